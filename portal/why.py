""""Why is this blocked?" wherever a version appears: one sentence per blocker with its figure and what clears it."""

from __future__ import annotations

import streamlit as st

from core.errors import CountersignError
from governance.context import Context
from governance.usecases.why import why_blocked
from portal.text import code, inert
from portal.widgets import show_error


def why_panel(ctx: Context, version_id: str) -> None:
    """The answer of :func:`governance.usecases.why.why_blocked` for ``version_id``, in an expander."""
    try:
        answer = why_blocked(ctx, version_id)
    except CountersignError as exc:  # a version that left the catalog, a tier that does not parse: said, not raised
        show_error(exc)
        return
    title = ("Why is this blocked?" if answer.blocked else "Nothing blocks this version")
    with st.expander(title, expanded=answer.blocked, icon=":material/block:" if answer.blocked else
                     ":material/check_circle:"):
        st.markdown(inert(answer.headline()) + ".")
        for b in answer.blockers:
            st.markdown(f"- **{inert(b.label)}**: {inert(b.sentence)}  \n  *To clear:* {inert(b.clears)}")
        st.caption(f"{code(f'countersign why {version_id}')} prints the same answer.")
