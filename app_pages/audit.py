"""Audit: the ledger with filters, verification against the signed checkpoints, and a new checkpoint."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import CountersignError
from governance import ledger
from portal import context
from portal.tables import show_table
from portal.text import inert, inert_block, inert_rows
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
        (st.success if report.ok else st.error)(inert_block(report.summary()))
        for p in report.problems:
            st.error(inert_block(p.message))
        for w in report.warnings:
            st.warning(inert_block(w))
    except CountersignError as exc:
        show_error(exc)
if me.can("checkpoint") and b2.button("Sign a checkpoint now", key="audit.checkpoint"):
    try:
        cp = ledger.checkpoint(ctx.workspace, catalog, me)
        st.success(f"Checkpoint of {cp.length} entries signed with key {inert(cp.key_id)}: "
                   f"{inert(cp.path.name if cp.path else '')}")
    except CountersignError as exc:
        show_error(exc)

f1, f2, f3, f4 = st.columns(4)
chosen = f1.multiselect("Action", ledger.actions(catalog), key="audit.actions")
actor = f2.text_input("Actor contains", key="audit.actor")
model = f3.selectbox("Model", catalog.filter_values()["models"], index=None, placeholder="any model",
                     key="audit.model")
days = f4.date_input("Recorded between (UTC)", value=(), key="audit.days", format="YYYY-MM-DD")
g1, g2 = st.columns(2)
subject = g1.text_input("Subject contains", key="audit.subject")
text = g2.text_input("Payload contains", key="audit.text")
first, last = (*days, None, None)[:2] if isinstance(days, tuple | list) else (days, days)
try:
    flt = ledger.LedgerFilter.for_days(first, last, actions=tuple(chosen), actor=actor, subject=subject, text=text,
                                       model=model or "")
except CountersignError as exc:
    show_error(exc)
    st.stop()
rows = ledger.listing(catalog, flt)
show_table(rows, width="stretch", key="audit.table", column_config={
    "seq": st.column_config.NumberColumn("Entry", format="%d"),
    "recorded_at": st.column_config.DatetimeColumn("Recorded (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "hash": st.column_config.TextColumn("Hash", width="small"),
})
st.caption(f"{len(rows)} entries shown (newest first, at most 500).")

if not rows.empty:
    st.subheader("One entry in full")
    labels = {int(r.seq): f"#{r.seq} · {r.recorded_at:%Y-%m-%d %H:%M} · {r.action} · {r.subject or '—'}"
              for r in rows.itertuples()}
    seq = st.selectbox("Entry", list(labels), format_func=labels.get, index=None, placeholder="Pick an entry",
                       key="audit.entry")
    if seq is not None:
        try:
            e = ledger.entry(catalog, seq)
        except CountersignError as exc:
            show_error(exc)
        else:
            with st.container(border=True, key="audit.entry_detail"):
                st.table(inert_rows(pd.DataFrame({"Field": ["Entry", "Recorded (UTC)", "Actor", "Action", "Subject", "Hash",
                                                 "Previous hash"],
                                       "Value": [str(e.seq), f"{e.recorded_at:%Y-%m-%d %H:%M:%S}", e.actor, e.action,
                                                 e.subject or "—", e.hash, e.prev_hash]})), hide_index=True)
                st.markdown("**Payload**")
                st.json(e.payload)
