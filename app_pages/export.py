"""Export: a version's regulatory report (signed PDF) and audit pack, with the history of past exports.

Read widgets → :func:`governance.usecases.export.open_export` → render; the panel's buttons are the export commands.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from governance.usecases.export import SEAL, ExportQuery, open_export
from portal import context
from portal.context import SELECTED_VERSION
from portal.export import countersign_panel, export_panel
from portal.tables import show_table
from portal.text import inert

ctx = context.get()
view = open_export(ctx, ExportQuery(context.wanted("export.version", SELECTED_VERSION)))
if view.empty:
    st.info("No versions yet: sync an account on the **Accounts** page.")
    st.stop()

st.title("Export")
st.caption("Signed PDF reports laid out by regulation (EU AI Act Annex IV, SR 11-7, PRA SS1/23), each with an "
           "interactive HTML copy that opens offline, and audit packs. "
           "Every number cites stored evidence; missing evidence is listed as a gap. Each export is a ledger entry.")
vid = context.picker("Version", view.choice, key="export.version", selection=SELECTED_VERSION)
if vid is None:
    st.stop()
if vid != view.choice.value:  # picked just now: the next run reads it
    st.rerun()


# who builds an export and whose certificate signs it can be different people: say both, before the click
plan = view.plan
if plan is not None:
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
if export_panel(ctx, vid, key="export"):
    st.rerun()  # the view was read before this export: read it again, so its history lists the new one

st.subheader("Past exports of this version")
if view.history:
    show_table(
        pd.DataFrame([{"when": h.recorded_at, "who": h.actor, "what": h.action, "template": h.template,
                       "file": h.file, "sha256": h.sha256, "ledger entry": h.seq} for h in view.history]),
        key="export.history", column_config={"ledger entry": st.column_config.NumberColumn("Ledger entry", format="%d"),
                                             "when": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm")},
    )
else:
    st.caption("None yet.")

if view.signs_personally:
    st.subheader("Countersign a report exported earlier")
    countersign_panel(ctx, view.countersignable)
