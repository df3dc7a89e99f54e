"""Export: a version's regulatory report (signed PDF) and audit pack, with the history of past exports."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from governance.reports.export import export_history
from governance.reports.signers import SEAL, signing_plan, signs_personally
from portal import context
from portal.context import SELECTED_VERSION
from portal.export import countersign_panel, export_panel
from portal.tables import show_table
from portal.text import inert

ctx = context.get()
inventory = ctx.catalog.inventory()
if inventory.empty:
    st.info("No versions yet: sync an account on the **Accounts** page.")
    st.stop()

st.title("Export")
st.caption("Signed PDF reports laid out by regulation (EU AI Act Annex IV, SR 11-7, PRA SS1/23), each with an "
           "interactive HTML copy that opens offline, and audit packs. "
           "Every number cites stored evidence; missing evidence is listed as a gap. Each export is a ledger entry.")
vid = context.choose("Version", list(inventory["version_id"]), key="export.version", selection=SELECTED_VERSION)
if vid is None:
    st.stop()


# who builds an export and whose certificate signs it can be different people: say both, before the click
if ctx.identity.can("export"):
    plan = signing_plan(ctx.workspace, ctx.settings, ctx.identity)
    if plan.kind == SEAL:
        signature = (f"sealed with the organisation's certificate **{inert(plan.certificate_name)}** (the seal's "
                     f"signature names you as the exporter)")
    else:
        signature = f"signed with your own certificate, **{inert(plan.certificate_name)}**"
    if plan.kind is None:
        st.warning(f"You may export, but no signature can be made for you: {inert(plan.problem)}",
                   icon=":material/key_off:")
    else:
        st.caption(f"Exports you build are recorded as built and exported by **{inert(ctx.identity.label)}**. "
                   f"The PDF is {signature}.", help="The signature certifies the file; the ledger and the history "
                   "below record who exported it. Later approvers can countersign it below.")
export_panel(ctx, vid, key="export")

st.subheader("Past exports of this version")
history = export_history(ctx.catalog, vid)
if history:
    show_table(
        pd.DataFrame([{"when": h.recorded_at, "who": h.actor, "what": h.action, "template": h.template,
                       "file": h.file, "sha256": h.sha256, "ledger entry": h.seq} for h in history]),
        key="export.history", column_config={"ledger entry": st.column_config.NumberColumn("Ledger entry", format="%d"),
                                             "when": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm")},
    )
else:
    st.caption("None yet.")

if ctx.identity.can("export") and signs_personally(ctx.settings, ctx.identity):
    st.subheader("Countersign a report exported earlier")
    countersign_panel(ctx, history)
