"""Audit: the ledger with filters, verification against the signed checkpoints, and a new checkpoint."""

from __future__ import annotations

import streamlit as st

from core.errors import CountersignError
from governance import ledger
from portal import context
from portal.widgets import show_error

ctx = context.get()
catalog, me = ctx.catalog, ctx.identity

st.title("Audit ledger")
length, head = ledger.head(catalog)
c1, c2 = st.columns(2)
c1.metric("Entries", length)
c2.metric("Head hash", head[:16])

b1, b2 = st.columns(2)
if b1.button("Verify the ledger", type="primary", key="audit.verify"):
    try:
        report = ledger.verify(ctx.workspace, catalog, me)
        (st.success if report.ok else st.error)(report.summary())
        for p in report.problems:
            st.error(p.message)
        for w in report.warnings:
            st.warning(w)
    except CountersignError as exc:
        show_error(exc)
if me.can("checkpoint") and b2.button("Sign a checkpoint now", key="audit.checkpoint"):
    try:
        cp = ledger.checkpoint(ctx.workspace, catalog, me)
        st.success(f"Checkpoint of {cp.length} entries signed with key {cp.key_id}: {cp.path.name if cp.path else ''}")
    except CountersignError as exc:
        show_error(exc)

f1, f2, f3, f4 = st.columns(4)
chosen = f1.multiselect("Action", ledger.actions(catalog), key="audit.actions")
actor = f2.text_input("Actor contains", key="audit.actor")
subject = f3.text_input("Subject contains", key="audit.subject")
text = f4.text_input("Payload contains", key="audit.text")
rows = ledger.listing(catalog, ledger.LedgerFilter(actions=tuple(chosen), actor=actor, subject=subject, text=text))
st.dataframe(rows, hide_index=True, width="stretch")
st.caption(f"{len(rows)} entries shown (newest first, at most 500).")
