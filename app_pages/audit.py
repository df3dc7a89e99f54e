"""Audit: the ledger with filters, verification against the signed checkpoints, and a new checkpoint.

Read widgets → :func:`governance.usecases.audit.open_audit` → render; Verify and Sign are one command each.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import CountersignError
from core.wording import words
from governance.usecases.audit import AuditQuery, open_audit, sign_checkpoint, verify_ledger
from portal import context
from portal.lifecycle import retention_panel
from portal.tables import show_table
from portal.text import inert, inert_block, inert_rows
from portal.widgets import show_error

ctx = context.get()
state = st.session_state
days = state.get("audit.days", ())
first, last = (*days, None, None)[:2] if isinstance(days, tuple | list) else (days, days)
view = open_audit(ctx, AuditQuery(actions=tuple(state.get("audit.actions") or ()), actor=state.get("audit.actor") or "",
                                  model=state.get("audit.model") or "", first=first, last=last,
                                  subject=state.get("audit.subject") or "", text=state.get("audit.text") or "",
                                  entry=state.get("audit.entry")))

st.title("Audit ledger")
c1, c2 = st.columns(2)
c1.metric("Entries", view.length)
c2.metric("Head hash", view.head[:16])

b1, b2 = st.columns(2)
if b1.button("Verify the ledger", type="primary", key="audit.verify"):
    try:
        report = verify_ledger(ctx)
        (st.success if report.ok else st.error)(inert_block(report.summary()))
        for p in report.problems:
            st.error(inert_block(p.message))
        for w in report.warnings:
            st.warning(inert_block(w))
    except CountersignError as exc:
        show_error(exc)
if view.can_checkpoint and b2.button("Sign a checkpoint now", key="audit.checkpoint"):
    try:
        cp = sign_checkpoint(ctx)
        st.success(f"Checkpoint of {cp.length} entries signed with key {inert(cp.key_id)}: "
                   f"{inert(cp.path.name if cp.path else '')}")
    except CountersignError as exc:
        show_error(exc)

f1, f2, f3, f4 = st.columns(4)
f1.multiselect("Action", list(view.actions), key="audit.actions")
f2.text_input("Actor contains", key="audit.actor")
f3.selectbox("Model", list(view.models), index=None, placeholder="any model", key="audit.model")
f4.date_input("Recorded between (UTC)", value=(), key="audit.days", format="YYYY-MM-DD")
g1, g2 = st.columns(2)
g1.text_input("Subject contains", key="audit.subject")
g2.text_input("Payload contains", key="audit.text")
if view.error is not None:
    show_error(view.error)
    st.stop()
rows = view.rows
show_table(rows, width="stretch", key="audit.table", column_config={
    "seq": st.column_config.NumberColumn("Entry", format="%d"),
    "recorded_at": st.column_config.DatetimeColumn("Recorded (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "hash": st.column_config.TextColumn("Hash", width="small"),
})
st.caption(f"{len(rows)} entries shown (newest first, at most 500).")

if not rows.empty:
    st.subheader("One entry in full")
    labels = {int(r.seq): f"#{r.seq} · {r.recorded_at:%Y-%m-%d %H:%M} · {words(r.action)} · {r.subject or '—'}"
              for r in rows.itertuples()}
    seq = st.selectbox("Entry", list(labels), format_func=labels.get, index=None, placeholder="Pick an entry",
                       key="audit.entry")
    if seq is not None and view.entry_error is not None:
        show_error(view.entry_error)
    elif seq is not None and (e := view.entry) is not None:
        with st.container(border=True, key="audit.entry_detail"):
            st.table(inert_rows(pd.DataFrame({"Field": ["Entry", "Recorded (UTC)", "Actor", "Action", "Subject"],
                                   "Value": [str(e.seq), f"{e.recorded_at:%Y-%m-%d %H:%M:%S}", e.actor,
                                             words(e.action), e.subject or "—"]})), hide_index=True)
            # 64 hex digits have no place to wrap in a table cell, which cut them off (issue 35, finding 12):
            # each hash is a code line that wraps, whole and easy to copy
            for label, value in (("Hash", e.hash), ("Previous hash", e.prev_hash)):
                st.markdown(f"**{label}**")
                st.code(value or "—", language=None, wrap_lines=True)
            st.markdown("**Payload**")
            st.json(e.payload)

retention_panel(ctx)  # the retention section (portal/lifecycle.py)
