"""Export: a version's regulatory report (signed PDF) and audit pack, with the history of past exports."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import CountersignError
from governance.reports.export import export_history
from governance.reports.keys import key_paths, load_certificate, signer_info
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
vid = context.choose("Version", list(inventory["version_id"]), key="export.version", selection=SELECTED_VERSION)
if vid is None:
    st.stop()


def _certificate_holder() -> str | None:
    """Whom the workspace's signing certificate names (None while there is no readable certificate)."""
    _, cert_path = key_paths(ctx.workspace, ctx.settings)
    try:
        return signer_info(load_certificate(cert_path)).name
    except CountersignError:
        return None


# who builds an export and whose certificate signs it are different people: say both
holder = _certificate_holder()
signature = (f"the workspace's signing certificate, issued to **{holder}**" if holder
             else "the workspace's signing key")
if ctx.identity.can("export"):
    st.caption(f"Exports you build are recorded as built and exported by **{ctx.identity.label}**. "
               f"The PDF is signed with {signature}.", help="The signature certifies the file; the ledger and "
               "the history below record who exported it.")
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
