"""Risk acceptances: the register of who accepted which failing gates, for which request, until when.

One call (:func:`governance.usecases.acceptances.open_acceptances`) → render.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from governance.usecases.acceptances import open_acceptances
from portal import context
from portal.tables import show_table
from portal.text import inert

ctx = context.get()
view = open_acceptances(ctx)
st.title("Risk acceptances")
st.caption("Every risk acceptance recorded with an approval: who accepted which failing gates, for which request, "
           f"until when. Expired acceptances and those expiring within {view.soon_days} days are highlighted. "
           "The same register: `countersign acceptances --json`.")

register = view.entries
if not register:
    st.info("No risk acceptance has been recorded yet.")
    st.stop()

expired = view.in_state("expired")
soon = view.in_state("expiring soon")
c1, c2, c3 = st.columns(3)
c1.metric("In force", len(register) - len(expired) - len(soon))
c2.metric(f"Expiring within {view.soon_days} days", len(soon))
c3.metric("Expired", len(expired))
if soon:
    st.warning("Expiring soon: " + "; ".join(
        f"{inert(a.request_id)} ({inert(', '.join(a.gates))}) on {a.expires_at:%Y-%m-%d}" for a in soon),
        icon=":material/schedule:")
if expired:
    st.error("Expired: " + "; ".join(
        f"{inert(a.request_id)} ({inert(', '.join(a.gates))}) on {a.expires_at:%Y-%m-%d}" for a in expired),
        icon=":material/event_busy:")

table = pd.DataFrame([{
    "state": a.state, "expires": a.expires_at, "days left": a.days_left, "gates": ", ".join(a.gates),
    "request": a.request_id, "version": a.version_id, "to": a.to_env, "request status": a.request_status,
    "accepted by": a.accepted_by, "accepted at": a.accepted_at, "justification": a.justification,
} for a in register])
SHADE = {"expired": "background-color: rgba(255, 43, 43, 0.18)",
         "expiring soon": "background-color: rgba(255, 164, 33, 0.22)"}
show_table(table.style.apply(lambda row: [SHADE.get(row["state"], "")] * len(row), axis=1),
           width="stretch", key="acceptances.table",
           column_config={"days left": st.column_config.NumberColumn("Days left", format="%d"),
                          "to": "To"})
