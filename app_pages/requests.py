"""Requests: the promotion queue and one request's evidence, gates, lineage, decisions and actions.

Read widgets → :func:`governance.usecases.requests.open_requests` → render; an action button builds one command
(:func:`~governance.usecases.requests.decide`). The view drawn is kept for the next run: a decision taken on it reuses
its gate checklist while nothing the gates read has changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import streamlit as st

from core.errors import CountersignError
from core.wording import words
from governance.promotion import MAX_ACCEPTANCE, RiskAcceptance
from governance.usecases.requests import (
    EVIDENCE_TITLE,
    STATUSES,
    ApproveCommand,
    CancelCommand,
    CreateRequestCommand,
    ExecuteCommand,
    RejectCommand,
    RequestsQuery,
    RequestView,
    create_request,
    decide,
    open_requests,
    preview_approval,
)
from governance.usecases.selection import Wanted
from portal import context
from portal.context import SELECTED_REQUEST, SELECTED_VERSION
from portal.export import export_panel
from portal.tables import show_table
from portal.text import code, inert, inert_block, inert_rows
from portal.widgets import show_error

ctx = context.get()
me = ctx.identity
GATE_ICON = {"pass": ":green-badge[pass]", "fail": ":red-badge[fail]", "missing": ":orange-badge[missing]"}
FLASH = "req.flash"  # (kind, text) of the last action, shown after the rerun that redraws the request
CONFIRM = "req.confirm"  # the request whose approval waits for its confirmation
CLEAR = "req.clear_decision"  # set by an action that succeeded: empty the decision widgets before they are drawn
VIEW = "req.view"  # the request view drawn last (no widget owns it): its checklist may serve the next decision
DECISION_WIDGETS = ("req.comment", "req.accept", "req.accept.why", "req.accept.gates", "req.accept.until")

if st.session_state.pop(CLEAR, False):
    for key in DECISION_WIDGETS:
        st.session_state.pop(key, None)

# a request asked for on the previous run: created before the queue is read, so the queue shows it
created, create_error = None, None
if st.session_state.get("req.new.submit"):
    try:
        created = create_request(ctx, CreateRequestCommand(st.session_state.get("req.new.version"),
                                                           st.session_state.get("req.new.to"),
                                                           st.session_state.get("req.new.reason") or ""))
        context.select(SELECTED_REQUEST, created.request_id)
        st.session_state["req.id"] = created.request_id  # the picker below is not drawn yet: show the new one
    except CountersignError as exc:
        create_error = exc

view = open_requests(ctx, RequestsQuery(
    statuses=tuple(st.session_state.get("req.status") or ()), version=st.query_params.get("version"),
    request=Wanted(state=st.session_state.get("req.id"), link=st.query_params.get("request"),
                   shared=st.session_state.get(SELECTED_REQUEST)),
    prior=st.session_state.get(VIEW)))
shown: RequestView | None = view.shown
st.session_state[VIEW] = shown

st.title("Promotion requests")

if view.can_request:
    with st.expander("Request a promotion", expanded=False):
        wanted = context.selected(SELECTED_VERSION)
        versions = list(view.versions)
        st.selectbox("Version", versions, index=versions.index(wanted) if wanted in versions else 0,
                     key="req.new.version")
        st.selectbox("To environment", list(view.environments), key="req.new.to")
        st.text_area("Reason", key="req.new.reason")
        st.button("Submit request", key="req.new.submit")
        if created is not None:
            failing = [r for r in created.payload.get("checklist", {}).get("results", []) if r["status"] != "pass"]
            if failing:  # created, and said at once: approving it will need a risk acceptance per failing gate
                lines = "\n".join(f"- **{inert(words(r['gate']))}**: {inert(r['message'])}" for r in failing)
                st.warning(f"Request {inert(created.request_id)} created, but {len(failing)} gate(s) block its "
                           f"approval (each will need a risk acceptance):\n{lines}", icon=":material/warning:")
            else:
                st.success(f"Request {inert(created.request_id)} created; every gate passes.")
        if create_error is not None:
            show_error(create_error)

HOW_TO_REQUEST = (
    "Open **Request a promotion** above to ask for one." if view.can_request
    else "An ML engineer requests one on this page or with `countersign request --version ID --to ENV`."
)


def _clear_filters() -> None:
    """Show every request: empty the Status filter and drop ``?version=`` (runs before the widgets are drawn)."""
    st.session_state["req.status"] = []
    st.query_params.pop("version", None)


if not view.total:
    st.info(f"No promotion requests yet. {HOW_TO_REQUEST}")
    st.stop()

st.multiselect("Status", list(STATUSES), default=[], key="req.status")
if view.version:
    if not view.version_total:
        st.info(f"No promotion request for **{inert(view.version)}** yet. {HOW_TO_REQUEST}")
        st.button("Show all requests", on_click=_clear_filters, key="req.clear")
        st.stop()
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    c1.caption(f"Only the requests for version **{inert(view.version)}**.")
    c2.button("Show all requests", on_click=_clear_filters, key="req.clear")
if view.queue.empty:
    st.info(f"No request matches these filters ({view.total} requests in all). Clear the filters to see them.")
    st.button("Clear filters", on_click=_clear_filters, key="req.clear_filters")
    st.stop()
show_table(
    view.queue[["request_id", "version_id", "from_env", "to_env", "status", "approvals", "approvals_required",
                "requester", "created_at", "target_version_id"]],
    width="stretch",
    column_config={"from_env": st.column_config.TextColumn("From", help="The environment of the version requested"),
                   "to_env": st.column_config.TextColumn("To", help="The environment it is to be promoted to")},
)

if view.asked_unknown:
    st.warning(f"There is no promotion request **{inert(view.asked_unknown)}** in this workspace: the link is wrong or "
               "the request belongs to another workspace. Pick a request below.", icon=":material/link_off:")
elif view.asked_hidden:
    st.warning(f"Request **{inert(view.asked_hidden)}** is hidden by the filters above: clear them to see it.")
rid = st.selectbox("Request", list(view.choice.options), index=view.choice.index, key="req.id",
                   placeholder="Pick a request")
if rid is None:
    st.stop()
if rid != view.choice.value:  # picked just now: the next run opens it
    st.rerun()
asked = st.query_params.get("request")
if asked and asked != rid:
    del st.query_params["request"]  # another request was picked: the link no longer describes the page
context.select(SELECTED_REQUEST, rid)
if view.error is not None:
    show_error(view.error)
    st.stop()
assert shown is not None
review = shown.review
request, version, checklist = review.request, review.version, review.checklist

st.subheader(inert(f"{request.request_id}: {request.version_id} → {request.to_env} ({request.target_account})"))
c1, c2, c3, c4 = st.columns(4)
c1.metric("Status", request.status)
c2.metric("Approvals", f"{len(request.approvers)}/{request.approvals_required}")
c3.metric("Tier", checklist.tier_name)
c4.metric("Execution", request.execution_state or "—")
st.markdown(f"**Requested by** {inert(request.requester)} on {request.created_at:%Y-%m-%d %H:%M} UTC — "
            f"{inert_block(request.reason)}")
if request.skip:
    st.warning(f"**Skips environments**: {inert(request.payload.get('path') or request.skip)}. The tier needs "
               f"{request.tier_approvals_required}; this request needs {request.approvals_required} approvals.")
if request.execution_error:
    st.error(f"Execution failed: {inert_block(request.execution_error)}")
if request.status == "pending":
    st.markdown(f":orange-badge[:material/group: {inert(shown.progress)}]")
if request.target_version_id:
    st.success(shown.deployment_note)
for d in request.risk_acceptances:
    expired = review.expired(d)
    st.warning(f"Risk accepted by {inert(d.actor)} for **{inert(', '.join(d.payload.get('gates', [])))}** until "
               f"{d.expires_at:%Y-%m-%d}{' (EXPIRED)' if expired else ''}: {inert_block(d.comment)}")
for f in review.follow_ups:
    (st.error if f.status == "overdue" else st.caption)(f"Follow-up: {inert(f.describe())}")

snap, changes = review.snapshot, review.changes
if snap is not None:
    st.subheader(f"As decided: what {inert(snap.actor)} saw")
    st.caption(f"{snap.kind.title()} on {snap.decided_at:%Y-%m-%d %H:%M} UTC under policy "
               f"{inert(snap.policy_version) or 'not recorded'}; the evidence rows it cites never change.")
    for g in snap.gates:
        st.markdown(f"{GATE_ICON.get(g.status, inert(g.status))} **{inert(g.gate)}** — {inert(g.message)}"
                    + (f"  \n:gray[evidence: {inert(', '.join(i[:10] for i in g.evidence_ids))}]" if g.evidence_ids
                       else ""))
    for ev in review.snapshot_evidence:
        st.markdown(f"**{inert(EVIDENCE_TITLE.get(ev.kind, ev.kind.title()))}** :gray[{code(ev.evidence_id)}"
                    + (f" · {ev.computed_at:%Y-%m-%d %H:%M} UTC" if ev.computed_at else "") + "]  \n"
                    + "\n".join(f"- {inert(line)}" for line in ev.summary.lines()))
    for a in snap.risk_acceptances:
        st.caption(f"Risk acceptance in force: {inert(', '.join(a.gates))} by {inert(a.actor)} until "
                   f"{str(a.expires_at)[:10]}")
    st.subheader("Changed since the decision")
    if changes is not None and changes.any:
        st.warning("\n".join(f"- {inert(line)}" for line in changes.lines()))
    else:
        st.caption("Nothing: the gates read the same evidence with the same results today.")

st.subheader("Policy gates" + (" today" if snap is not None else ""))
for r in checklist.results:
    used = ", ".join(f"{e.kind} {e.evidence_id[:10]}" for e in r.evidence)
    st.markdown(f"{GATE_ICON[r.status]} **{inert(r.gate)}** — {inert(r.message)}"
                + (f"  \n:gray[evidence: {inert(used)}]" if used else ""))
if not checklist.results:
    st.caption("No gate applies to this tier and environment.")

st.subheader("Evidence" + (" today" if snap is not None else ""))
used_by = {e.evidence_id: r.gate for r in checklist.results for e in r.evidence}
stored = review.stored_evidence or checklist.evidence
for col, ev in zip(st.columns(3), stored, strict=False):
    with col.container(border=True):
        when = f" · {ev.computed_at:%Y-%m-%d %H:%M} UTC" if ev.computed_at else ""
        st.markdown(f"**{inert(EVIDENCE_TITLE.get(ev.kind, ev.kind.title()))}**  \n:gray[{code(ev.evidence_id)}{when}]")
        st.markdown("\n".join(f"- {inert(line)}" for line in ev.summary.lines()))
        gate = used_by.get(ev.evidence_id)
        st.caption(f"read by gate {inert(gate)}" if gate else "stored; no gate of this tier reads it")
        with st.expander("Summary as JSON"):
            st.json(ev.summary.to_json())
lacking = list(shown.lacking)
if lacking or not stored:
    what = f"No {' or '.join(lacking)} evidence" if lacking else "No evidence"
    st.info(f"{what} on record for {inert(request.version_id)}. Compute it on the **Review** page.")
    if st.button("Open Review", icon=":material/query_stats:", key="req.review"):
        context.select(SELECTED_VERSION, request.version_id)
        st.switch_page("app_pages/review.py")

st.subheader("Lineage")
st.markdown(inert(" ← ".join(shown.lineage)))
digest = (f"artifact sha256 {version.artifact_sha256[:16]}…" if version.artifact_sha256 else
          "the registry records no artifact sha256")
st.caption(f"created by {inert(version.created_by) or 'unknown'}; {inert(digest)}")

st.subheader("Decisions and ledger")
history = [{"Entry": h.seq, "When (UTC)": f"{h.recorded_at:%Y-%m-%d %H:%M}", "Actor": h.actor, "Action": h.action,
            "Comment": h.comment} for h in shown.history]
if history:
    st.table(inert_rows(history), hide_index=True)  # a table wraps long comments; a data grid would cut them off
flash = st.session_state.pop(FLASH, None)  # the outcome of the action that ran before the last rerun
if flash:
    (st.success if flash[0] == "success" else st.warning)(inert_block(flash[1]))

can = review.actions
if not can:
    st.caption("You approved this request and have no further action on it." if review.approved_by_me
               else "You have no action on this request.")
    st.stop()
if me.can("export"):  # an engineer whose only action is to cancel her request has no report to export
    with st.expander("Export a signed report of this version", icon=":material/picture_as_pdf:"):
        export_panel(ctx, request.version_id, key=f"request.{request.request_id}.export", preview=False)

only_cancel = set(can) == {"cancel"}
st.subheader("Cancel your request" if only_cancel else "Your decision")
comment = st.text_area("Why you cancel it (required)" if only_cancel else "Comment (required)", key="req.comment")
acceptance = None
blocking = list(review.blocking_gates)
if "accept_risk" in can and blocking:
    st.info(f"Gates block approval: {inert(', '.join(blocking))}. Approving needs a risk acceptance.")
    if st.checkbox("Record a risk acceptance", key="req.accept"):
        gates = st.multiselect("Accepted gates", blocking, default=blocking, key="req.accept.gates")
        why = st.text_area("Justification (at least 20 characters)", key="req.accept.why",
                           help="Why the risk is acceptable, and what compensates for the failing gate")
        today = dt.date.today()
        until = st.date_input("Expires on", value=today + dt.timedelta(days=90), key="req.accept.until",
                              min_value=today + dt.timedelta(days=1),
                              max_value=today + (MAX_ACCEPTANCE - dt.timedelta(days=1)),
                              help=f"A risk acceptance lasts at most {MAX_ACCEPTANCE.days} days")
        acceptance = RiskAcceptance(tuple(gates), why, dt.datetime.combine(until, dt.time()))

# Draw every button first, then act: a refused action must not hide the buttons after it.
cols = st.columns(4)
BUTTONS = (("approve", "Approve", "primary"), ("reject", "Reject", "secondary"),
           ("cancel", "Cancel request", "secondary"), ("execute", "Execute / retry", "secondary"))
clicked = [name for col, (name, label, kind) in zip(cols, BUTTONS, strict=True)
           if name in can and col.button(label, type=kind, key=f"req.{name}")]
action = next((name for name, _, _ in BUTTONS if name in clicked), None)
approval = ApproveCommand(rid, comment, acceptance, seen=shown)
if action == "approve":  # an approval that would go through first says what it will do, and waits for a yes
    action = None
    try:
        preview_approval(ctx, approval)
    except CountersignError as exc:
        st.session_state.pop(CONFIRM, None)
        show_error(exc)
    else:
        st.session_state[CONFIRM] = rid
elif action is not None:
    st.session_state.pop(CONFIRM, None)
if st.session_state.get(CONFIRM) == rid and "approve" in can:
    preview = preview_approval(ctx, approval, check=False)  # the words, for the acceptance as the widgets hold it now
    with st.container(border=True, key="req.confirmation"):
        st.markdown("**Confirm your approval**")
        st.info(inert_block(preview.text), icon=":material/approval:")
        c1, c2 = st.columns(2)
        if c1.button("Confirm approval", type="primary", key="req.confirm_approve"):
            action = "approve"
        if c2.button("Back", key="req.confirm_back"):
            st.session_state.pop(CONFIRM, None)
            st.rerun()
if action is not None:
    command = {"approve": approval, "reject": RejectCommand(rid, comment, seen=shown),
               "cancel": CancelCommand(rid, comment),
               "execute": ExecuteCommand(rid, takeover=request.status == "executing")}[action]
    # an approval by someone who may execute runs the promotion at once (decide does both)
    executes = action == "execute" or (action == "approve" and me.can("execute"))
    try:
        with st.spinner("Executing the promotion…") if executes else contextlib.nullcontext():
            done = decide(ctx, command)
    except CountersignError as exc:
        show_error(exc)
    else:
        st.session_state[FLASH] = ("warning" if done.failed else "success",
                                   f"{done.message} {done.explanation}".strip())
        st.session_state[CLEAR] = True
        st.session_state.pop(CONFIRM, None)
        st.rerun()
