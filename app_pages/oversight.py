"""Oversight: deployed versions by periodic-review due date, and the risk officer's periodic review.

Read widgets → :func:`governance.usecases.oversight.open_oversight` → render; Record review is one command.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import CountersignError
from core.wording import words
from governance.usecases.oversight import (
    OUTCOME_HELP,
    OUTCOMES,
    OversightQuery,
    PeriodicReviewCommand,
    open_oversight,
    record_review,
)
from portal import context
from portal.context import SELECTED_VERSION
from portal.tables import show_table
from portal.text import inert
from portal.widgets import run_with_progress, show_error

ctx = context.get()
me = ctx.identity
SORT_LABELS = {"due": "Due date", "tier": "Risk tier"}
FLASH = "ovs.flash"
view = open_oversight(ctx, OversightQuery(sort=st.session_state.get("ovs.sort") or "due",
                                          only_attention=bool(st.session_state.get("ovs.attention")),
                                          version=context.wanted("ovs.version", SELECTED_VERSION)))

st.title("Oversight")
st.caption("Versions in use (serving on an endpoint, or holding the MLflow alias or ZenML stage mapped to the "
           "environment) are reviewed again on a cadence set by their risk tier (review_every_days), with "
           "drift and bias recomputed on the newest monitoring data (monitoring_every_days). A monitoring breach "
           "or cumulative change above the tier's ceiling starts a re-validation that is due at once.")

c1, c2 = st.columns([1, 2])
c1.radio("Sort by", list(SORT_LABELS), format_func=SORT_LABELS.get, horizontal=True, key="ovs.sort")
only = c2.toggle("Only due, overdue or never reviewed", key="ovs.attention")
plan, findings = view.plan, view.findings

if flash := st.session_state.pop(FLASH, None):
    st.success(inert(flash))
m0, m1, m2, m3, m4, m5 = st.columns(6)
m0.metric("Triggered", plan.count("triggered"), help="Re-validations a monitoring breach or cumulative change "
                                                      "started: due now, apart from the calendar")
m1.metric("Overdue", plan.count("overdue"))
m2.metric(f"Due within {view.due_soon_days} days", plan.count("due"))
m3.metric("Never reviewed", plan.count("never_reviewed"))
m4.metric("Unapproved deployments", len(findings), delta="needs attention" if findings else None,
          delta_color="inverse")
m5.metric("Shown", len(plan.items))
if findings:
    st.error("Serving versions that are not approved, or not what was approved (the binding check):\n"
             + "\n".join(f"- **{f.version_id}** ({f.environment}) {f.flag.reason}" for f in findings),
             icon=":material/gpp_bad:")

envs = ", ".join(plan.environments)
if not plan.items:
    if only:
        st.success(f"Nothing is due, overdue or unreviewed in {envs}. Switch the filter off to see every version in "
                   "use and its next review date.")
    else:
        st.info(f"No version is in use in {envs} yet (serving on an endpoint, or holding a registry label mapped "
                "to it: alias_environments, stage_environments). Versions in use appear here once their account is synced (**Accounts** page); set "
                "`review_every_days` and `monitoring_every_days` per tier under `[policy.tiers.NAME]` in "
                "countersign.toml to schedule their reviews.")
    st.stop()

if plan.triggered:  # apart from the calendar: what monitoring found, due now until a periodic review answers it
    st.subheader("Triggered reviews — due now")
    st.caption("Scheduled monitoring breached a tier threshold (drift, weighted drift, fairness), or the cumulative "
               "change since the last full validation passed the tier's ceiling. Recording a periodic review of the "
               "version below is the re-validation that closes it.")
    show_table(pd.DataFrame([{
        "triggered": t.triggered_at, "version": t.version_id, "trigger": t.gate or t.kind, "figure": t.figure,
        "limit": t.threshold, "columns": ", ".join(t.columns), "reason": t.reason, "id": t.trigger_id,
    } for t in plan.triggered]), width="stretch", key="ovs.triggered", column_config={
        "triggered": st.column_config.DatetimeColumn("Triggered", format="YYYY-MM-DD"),
        "figure": st.column_config.NumberColumn("Figure", format="%.3g"),
        "limit": st.column_config.NumberColumn("Limit", format="%.3g"),
    })
    st.subheader("Calendar")

without = sorted({i.tier for i in plan.items if i.review_every_days is None})
if without:
    st.warning(f"Tier(s) {', '.join(without)} set no `review_every_days`: their versions have no due date. "
               "Add it under `[policy.tiers.NAME]` in countersign.toml.")
rows = pd.DataFrame([{
    "status": i.status, "due": i.due_at, "days left": i.days_left, "version": i.version_id, "tier": i.tier,
    "owner": i.owner, "serving on": i.deployed_on, "last review": i.last_review_at,
    "outcome": i.last_outcome or ("never reviewed, never signed off: first review due now" if i.first_review_now
                                  else "never reviewed" if i.never_reviewed else ""),
    "monitoring": i.monitoring_status,
    "last monitored": i.last_monitored_at, "flag": i.flag.removeprefix("⚠ "),
} for i in plan.items])
show_table(rows, width="stretch", key="ovs.table", column_config={
    "days left": st.column_config.NumberColumn("Days left", format="%d"),
    "due": st.column_config.DatetimeColumn("Review due", format="YYYY-MM-DD"),
    "last review": st.column_config.DatetimeColumn("Last review", format="YYYY-MM-DD"),
    "last monitored": st.column_config.DatetimeColumn("Last monitored", format="YYYY-MM-DD"),
    "monitoring": st.column_config.TextColumn("Monitoring", help="overdue or never: run 'countersign monitor' (or the scheduled "
                                                   "'countersign notify --monitor')"),
})

st.subheader("Record a periodic review")
if not view.can_review:
    st.caption(f"Periodic reviews are recorded by a risk officer; you are "
               f"{', '.join(words(r) for r in sorted(me.roles)) or 'no role'}.")
else:
    vid = context.picker("Version", view.choice, key="ovs.version", selection=SELECTED_VERSION,
                         scope="under oversight")
    outcome = st.radio("Outcome", OUTCOMES, horizontal=True, key="ovs.outcome",
                       captions=[OUTCOME_HELP[o] for o in OUTCOMES])
    if st.session_state.pop("ovs.recorded", False):  # a recorded review's comment leaves the box (finding 14)
        st.session_state["ovs.comment"] = ""
    comment = st.text_area("Comment", key="ovs.comment", placeholder="What was checked, what was concluded")
    refresh = st.toggle("Recompute drift and bias on the newest data", value=True, key="ovs.refresh")
    if vid and st.button("Record review", type="primary", icon=":material/task_alt:", key="ovs.record"):
        try:
            done = run_with_progress("Refreshing evidence…", lambda progress: record_review(
                ctx, PeriodicReviewCommand(vid, outcome, comment, refresh=refresh), progress),
                done_label="Review recorded")
            st.session_state[FLASH] = f"Review {done.review_id} of {done.version_id} recorded ({done.outcome})."
            st.session_state["ovs.recorded"] = True  # set before the box is drawn on the next run, not after
            st.rerun()
        except CountersignError as exc:
            show_error(exc)

with st.expander("Recent periodic reviews"):
    recent = view.recent
    if recent:
        show_table(pd.DataFrame([{"reviewed": r.reviewed_at, "version": r.version_id, "outcome": r.outcome,
                                    "reviewer": r.reviewer, "comment": r.comment} for r in recent]),
                   width="stretch")
    else:
        st.caption("No periodic review recorded yet.")
