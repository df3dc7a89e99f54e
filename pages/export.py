"""Export: a version's regulatory report (signed PDF) and audit pack, with the history of past exports."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from governance.reports.export import export_history
from portal import context
from portal.context import SELECTED_VERSION
from portal.export import export_panel

ctx = context.get()
inventory = ctx.catalog.inventory()
if inventory.empty:
    st.info("No versions yet: sync an account on the **Accounts** page.")
    st.stop()

st.title("Export")
st.caption("Signed PDF reports laid out by regulation (EU AI Act Annex IV, SR 11-7, PRA SS1/23) and audit packs. "
           "Every number cites stored evidence; missing evidence is listed as a gap. Each export is a ledger entry.")
ids = list(inventory["version_id"])
wanted = context.selected(SELECTED_VERSION)
vid = st.selectbox("Version", ids, index=ids.index(wanted) if wanted in ids else 0, key="export.version")
context.select(SELECTED_VERSION, vid)

export_panel(ctx, vid, key="export")

st.subheader("Past exports of this version")
history = export_history(ctx.catalog, vid)
if history:
    st.dataframe(
        pd.DataFrame([{"when": h.recorded_at, "who": h.actor, "what": h.action, "template": h.template,
                       "file": h.file, "sha256": h.sha256, "ledger entry": h.seq} for h in history]),
        hide_index=True, key="export.history",
    )
else:
    st.caption("None yet.")
