"""The lifecycle forms of the Model page that the CLI had alone (issue 38): propose a fallback plan, approve or
reject one, review an emergency execution after the fact, and act on an incident (an action, a regulator report,
its closure).

Each form calls the use case its CLI command calls (:func:`governance.usecases.fallback.propose_fallback`,
:func:`~governance.usecases.fallback.decide_plan`, :func:`~governance.usecases.fallback.review_fallback`,
:func:`governance.usecases.incidents.incident_step`): roles, four
eyes, N of M approvals and required fields are checked in the services under them, with their ledger entries; the
forms only hide what the signed-in person may not do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core.errors import CountersignError
from governance.catalog.records import InventoryFilter
from governance.incidents import RULES
from governance.usecases import fallback, incidents
from portal.context import PortalContext
from portal.text import inert
from portal.widgets import show_error

if TYPE_CHECKING:
    from governance.fallback import FallbackExecution, FallbackPlan, ModelFallbacks
    from governance.incidents import Incident

KIND_LABELS = {"version": "an earlier approved version", "challenger": "a challenger model's version",
               "switch_off": "switch off (a business process takes over)"}
INCIDENT_STEPS = {"action": ("Record an action taken", "manage_incident"),
                  "report": ("Record the report a rule asks for", "manage_incident"),
                  "close": ("Close with its resolution", "close_incident")}


def plan_forms(ctx: PortalContext, row: ModelFallbacks) -> None:
    """The proposed plans of one model in one environment with the risk officers' decision, and a new proposal."""
    for plan in row.pending:
        st.markdown(f":orange-badge[proposed] `{plan.plan_id}` {inert(plan.describe())} · by "
                    f"{inert(plan.proposed_by)} · {len(plan.approvers)}/{plan.approvals_required} approval(s)  \n"
                    f"{inert(plan.reason)}")
        if ctx.identity.can("approve_fallback"):
            _decide_form(ctx, plan)
    if ctx.identity.can("propose_fallback"):
        _propose_form(ctx, row)


def _decide_form(ctx: PortalContext, plan: FallbackPlan) -> None:
    """Approve or reject one proposed plan (never the proposer's own; distinct approvers up to the tier's N)."""
    with st.form(f"fallback.decide.{plan.plan_id}"):
        comment = st.text_input("Comment (recorded in the ledger)", key=f"fallback.comment.{plan.plan_id}")
        left, right = st.columns(2)
        approve = left.form_submit_button("Approve plan", type="primary")
        reject = right.form_submit_button("Reject plan")
    go = "approve" if approve else "reject" if reject else None
    if go is None:
        return
    try:
        decided = fallback.decide_plan(ctx, fallback.DecidePlanCommand(plan.plan_id, go, comment))
    except CountersignError as exc:
        show_error(exc)
        return
    st.success(f"Plan {decided.plan_id} {decided.status} ({len(decided.approvers)}/{decided.approvals_required} "
               "approvals).")


def review_form(ctx: PortalContext, execution: FallbackExecution) -> None:
    """The review after the fact of one emergency execution, offered to a risk officer who did not execute it."""
    if (execution.review_status == "reviewed" or not ctx.identity.can("review_fallback")
            or ctx.settings.person(execution.actor) == ctx.settings.person(ctx.identity.email)):
        return
    key = f"fallback.review.{execution.event_id}"
    due = f" (due {execution.review_due:%Y-%m-%d})" if execution.review_due else ""
    with st.expander(f"Review this emergency execution{due}"), st.form(f"{key}.form"):
        comment = st.text_area("Your conclusion: was the emergency path justified, what follows (recorded in the ledger)",
                               key=key)
        submitted = st.form_submit_button("Record the review")
    if not submitted:
        return
    try:
        done = fallback.review_fallback(ctx, fallback.ReviewFallbackCommand(execution.event_id, comment))
    except CountersignError as exc:
        show_error(exc)
        return
    st.success(f"Emergency execution of {done.executed_at:%Y-%m-%d %H:%M} reviewed by {inert(done.reviewed_by or '')}.")


def _candidates(ctx: PortalContext, row: ModelFallbacks) -> list[str]:
    """Approved versions in the row's environment other than the one in use: what a plan may fall back to."""
    rows = ctx.catalog.inventory_rows(InventoryFilter(environments=(row.environment,), statuses=("Approved",)),
                                      environment_order=ctx.settings.environments.order)
    mine = [r["version_id"] for r in rows if r["model"] == row.model and r["version_id"] not in row.in_use]
    return mine + [r["version_id"] for r in rows if r["model"] != row.model]


def _propose_form(ctx: PortalContext, row: ModelFallbacks) -> None:
    """Name the fallback of the model in use in this environment; its bytes are bound when proposed."""
    key = f"fallback.propose.{row.environment}"
    with st.expander(f"Propose a fallback plan for {inert(row.environment)}"), st.form(key):
        kind = st.selectbox("Fallback", tuple(KIND_LABELS), format_func=KIND_LABELS.get, key=f"{key}.kind")
        version = st.selectbox("Version to fall back to (earlier version or challenger)",
                               ("", *_candidates(ctx, row)), key=f"{key}.version")
        process = st.text_input("Business process that takes over (switch off)", key=f"{key}.process")
        reason = st.text_area("Why this fallback", key=f"{key}.reason")
        submitted = st.form_submit_button("Propose plan")
    if not submitted:
        return
    try:
        plan = fallback.propose_fallback(ctx, fallback.ProposeFallbackCommand(
            row.model, kind, reason, row.environment, version or None, process or None))
    except CountersignError as exc:
        show_error(exc)
        return
    st.success(f"Plan {plan.plan_id} proposed: {inert(plan.describe())}; it needs {plan.approvals_required} "
               "risk officer approval(s), not the proposer's.")


def incident_forms(ctx: PortalContext, incident: Incident) -> None:
    """Record an action, a regulator report or the closure of one open incident, as the person's role allows."""
    steps = [s for s, (_, right) in INCIDENT_STEPS.items() if ctx.identity.can(right)]
    if incident.status == "closed" or not steps:
        return
    key = f"incident.manage.{incident.incident_id}"
    with st.expander(f"Act on {incident.incident_id}"), st.form(key):
        step = st.radio("What", steps, format_func=lambda s: INCIDENT_STEPS[s][0], key=f"{key}.step",
                        horizontal=True)
        rule = st.selectbox("Rule the report meets (report)", RULES, key=f"{key}.rule")
        text = st.text_area("What was done / to whom it was reported and its reference / the resolution",
                            key=f"{key}.text")
        submitted = st.form_submit_button("Record")
    if not submitted:
        return
    try:
        done = incidents.incident_step(ctx, incidents.IncidentStepCommand(
            incident.incident_id, step, text, rule if step == "report" else None))
    except CountersignError as exc:
        show_error(exc)
        return
    st.success(f"{done.incident_id}: {INCIDENT_STEPS[step][0].lower()} recorded; it is {done.status}.")
