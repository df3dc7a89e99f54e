"""The periodic-review panel of one version (the Model page shows it; the Oversight page lists them all)."""

from __future__ import annotations

import streamlit as st

from governance.usecases.model import VersionPanel
from governance.usecases.oversight import OUTCOME_HELP
from portal.text import inert, inert_block

STATUS_TEXT = {
    "overdue": ":red-badge[overdue]",
    "due": ":orange-badge[due]",
    "scheduled": ":green-badge[scheduled]",
    "retired": ":gray-badge[retire decided]",
    "no_cadence": ":gray-badge[no cadence]",
}


def review_panel(panel: VersionPanel, overseen: tuple[str, ...]) -> None:
    """Periodic reviews of the panel's version and when the next one is due (``overseen``: the environments
    periodic reviews watch)."""
    item, found, version_id = panel.oversight, panel.reviews, panel.version.version_id
    st.subheader("Periodic reviews")
    if item is not None:
        due = f"{item.due_at:%Y-%m-%d}" if item.due_at else "—"
        every = f"every {item.review_every_days} days" if item.review_every_days else "no review_every_days set"
        st.markdown(f"{STATUS_TEXT[item.status]} next review due **{due}** (tier {inert(item.tier)}, {every})"
                    + ("; never reviewed" if item.never_reviewed else ""))
    elif not found:
        st.caption(f"{inert(version_id)} is not in use in {', '.join(overseen)} (it serves on no "
                   "endpoint and holds no registry label there): no periodic review applies.")
    for r in found:
        with st.container(border=True):
            st.markdown(f"**{r.reviewed_at:%Y-%m-%d}** · {inert(r.outcome)} · {inert(r.reviewer)}  \n"
                        f"{inert_block(r.comment)}")
            cited = ", ".join(f"{k} {v.get('evidence_id') or v.get('status')}" for k, v in r.evidence.items())
            gates = ", ".join(f"{g['gate']} {g['status']}" for g in r.gates)
            st.caption(f"{OUTCOME_HELP.get(r.outcome, '')}. Evidence: {inert(cited) or '—'}. Gates: {inert(gates) or '—'}. "
                       f"Ledger {str(r.ledger_hash)[:12]}")
