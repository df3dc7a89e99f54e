"""Small widgets shared by pages."""

from __future__ import annotations

import streamlit as st

STATUS_BADGE = {
    "Approved": ":green-badge[Approved]",
    "PendingManualApproval": ":orange-badge[Pending]",
    "Rejected": ":red-badge[Rejected]",
}


def status_badge(status: str) -> str:
    """Markdown badge of an approval status."""
    return STATUS_BADGE.get(status, f":gray-badge[{status}]")


def show_error(exc: Exception) -> None:
    """Show a Countersign error as one clear message."""
    st.error(str(exc), icon=":material/error:")
