"""Requests: the promotion queue and one request's evidence, gates, lineage, decisions and actions."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from governance import ledger
from governance.errors import CountersignError
from governance.policy import evaluate
from governance.promotion import (
    RiskAcceptance,
    allowed_actions,
    approve,
    cancel,
    create_request,
    execute,
    get_request,
    list_requests,
    reject,
)
from portal import context
from portal.context import SELECTED_REQUEST, SELECTED_VERSION
from portal.export import export_panel
from portal.widgets import show_error

ctx = context.get()
catalog, me = ctx.catalog, ctx.identity
GATE_ICON = {"pass": ":green-badge[pass]", "fail": ":red-badge[fail]", "missing": ":orange-badge[missing]"}

st.title("Promotion requests")

if me.can("request_promotion"):
    with st.expander("Request a promotion", expanded=False):
        ids = catalog.inventory()["version_id"].tolist()
        wanted = context.selected(SELECTED_VERSION)
        vid = st.selectbox("Version", ids, index=ids.index(wanted) if wanted in ids else 0, key="req.new.version")
        to_env = st.selectbox("To environment", list(ctx.settings.environments.order)[1:], key="req.new.to")
        reason = st.text_area("Reason", key="req.new.reason")
        if st.button("Submit request", key="req.new.submit"):
            try:
                r = create_request(ctx.workspace, ctx.settings, catalog, me, vid, to_env, reason)
                context.select(SELECTED_REQUEST, r.request_id)
                st.session_state["req.id"] = r.request_id  # the picker below is not drawn yet: show the new one
                st.success(f"Request {r.request_id} created.")
            except CountersignError as exc:
                show_error(exc)

status_filter = st.multiselect("Status", ["pending", "approved", "executing", "failed", "executed", "rejected",
                                          "cancelled"], default=[], key="req.status")
queue = list_requests(catalog, statuses=tuple(status_filter))
if queue.empty:
    st.info("No promotion requests yet.")
    st.stop()
st.dataframe(
    queue[["request_id", "version_id", "to_env", "status", "approvals", "approvals_required", "requester",
           "created_at", "target_version_id"]],
    hide_index=True, width="stretch",
)

ids = queue["request_id"].tolist()
wanted = context.selected(SELECTED_REQUEST)
rid = st.selectbox("Request", ids, index=ids.index(wanted) if wanted in ids else 0, key="req.id")
context.select(SELECTED_REQUEST, rid)
try:
    request = get_request(catalog, rid)
    version = catalog.version(request.version_id)
    checklist = evaluate(catalog, ctx.settings, request.version_id, request.to_env)
except CountersignError as exc:
    show_error(exc)
    st.stop()

st.subheader(f"{request.request_id}: {request.version_id} → {request.to_env} ({request.target_account})")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Status", request.status)
c2.metric("Approvals", f"{len(request.approvers)}/{request.approvals_required}")
c3.metric("Tier", checklist.tier_name)
c4.metric("Execution", request.execution_state or "—")
st.write(f"**Requested by** {request.requester} on {request.created_at:%Y-%m-%d %H:%M} UTC — {request.reason}")
if request.execution_error:
    st.error(f"Execution failed: {request.execution_error}")
if request.target_version_id:
    st.success(f"Promoted as {request.target_version_id}")
for d in request.risk_acceptances:
    expired = d.expired(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    st.warning(f"Risk accepted by {d.actor} for **{', '.join(d.payload.get('gates', []))}** until "
               f"{d.expires_at:%Y-%m-%d}{' (EXPIRED)' if expired else ''}: {d.comment}")

st.subheader("Policy gates")
for r in checklist.results:
    used = ", ".join(f"{e.kind} {e.evidence_id[:10]}" for e in r.evidence)
    st.markdown(f"{GATE_ICON[r.status]} **{r.gate}** — {r.message}" + (f"  \n:gray[evidence: {used}]" if used else ""))
if not checklist.results:
    st.caption("No gate applies to this tier and environment.")

st.subheader("Evidence summaries")
ev_cols = st.columns(3)
for col, r in zip(ev_cols, [r for r in checklist.results if r.evidence][:3], strict=False):
    col.json(r.evidence[0].summary, expanded=False)

st.subheader("Lineage")
st.write(" ← ".join(v.version_id for v in catalog.lineage(request.version_id)))
st.caption(f"created by {version.created_by or 'unknown'}; artifact sha256 {str(version.artifact_sha256)[:16]}…")

st.subheader("Decisions and ledger")
history = [{"seq": e.seq, "at": e.recorded_at, "actor": e.actor, "action": e.action,
            "comment": e.payload.get("comment") or e.payload.get("justification") or e.payload.get("error") or ""}
           for e in ledger.entries_for(catalog, f"request:{rid}")]
st.dataframe(history, hide_index=True, width="stretch")

can = allowed_actions(me, request, version)
if not can:
    st.caption("You have no action on this request.")
    st.stop()
with st.expander("Export a signed report of this version", icon=":material/picture_as_pdf:"):
    export_panel(ctx, request.version_id, key=f"request.{request.request_id}.export", preview=False)

st.subheader("Your decision")
comment = st.text_area("Comment (required)", key="req.comment")
acceptance = None
blocking = [r.gate for r in checklist.blocking
            if r.gate not in {g for d in request.risk_acceptances for g in d.payload.get("gates", [])}]
if "accept_risk" in can and blocking:
    st.info(f"Gates block approval: {', '.join(blocking)}. Approving needs a risk acceptance.")
    if st.checkbox("Record a risk acceptance", key="req.accept"):
        gates = st.multiselect("Accepted gates", blocking, default=blocking, key="req.accept.gates")
        why = st.text_area("Justification", key="req.accept.why")
        until = st.date_input("Expires on", value=dt.date.today() + dt.timedelta(days=90), key="req.accept.until")
        acceptance = RiskAcceptance(tuple(gates), why, dt.datetime.combine(until, dt.time()))

cols = st.columns(4)
try:
    if "approve" in can and cols[0].button("Approve", type="primary", key="req.approve"):
        r = approve(ctx.workspace, ctx.settings, catalog, me, rid, comment, risk_acceptance=acceptance)
        if r.status == "approved" and me.can("execute"):
            with st.spinner("Executing the promotion…"):
                r = execute(ctx.workspace, ctx.settings, catalog, me, rid)
        st.success(f"{rid} is {r.status}.")
        st.rerun()
    if "reject" in can and cols[1].button("Reject", key="req.reject"):
        reject(ctx.workspace, ctx.settings, catalog, me, rid, comment)
        st.rerun()
    if "cancel" in can and cols[2].button("Cancel request", key="req.cancel"):
        cancel(ctx.workspace, ctx.settings, catalog, me, rid, comment)
        st.rerun()
    if "execute" in can and cols[3].button("Execute / retry", key="req.execute"):
        with st.spinner("Executing the promotion…"):
            r = execute(ctx.workspace, ctx.settings, catalog, me, rid, takeover=request.status == "executing")
        st.rerun()
except CountersignError as exc:
    show_error(exc)
