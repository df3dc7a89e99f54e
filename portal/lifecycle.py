"""The lifecycle panels of the Model page: fallback and kill switch (with the risk officers' emergency button),
incidents with their reporting deadlines, and the model card editor (issue 38).

Each panel calls the use cases the CLI calls too (:mod:`governance.usecases.fallback`,
:mod:`~governance.usecases.incidents`, :mod:`~governance.usecases.cards`, :mod:`~governance.usecases.retention`);
roles are checked in the services under them, the buttons only hide what the signed-in person may not do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core.errors import CountersignError
from governance.usecases import cards, fallback, incidents
from portal.context import PortalContext
from portal.lifecycle_forms import incident_forms, plan_forms, review_form
from portal.tables import show_table
from portal.text import inert, inert_block
from portal.widgets import show_error

if TYPE_CHECKING:
    from governance.fallback import ModelFallbacks

DEADLINE_BADGE = {"overdue": ":red-badge[overdue]", "due": ":orange-badge[due]", "met": ":green-badge[met]",
                  "not_applicable": ":gray-badge[not applicable]"}


def lifecycle_panels(ctx: PortalContext, model: str) -> None:
    """The panels, in the order an examiner asks for them."""
    regimes_panel(ctx, model)
    fallback_panel(ctx, model)
    incident_panel(ctx, model)
    card_editor(ctx, model)


def _execute_form(ctx: PortalContext, row: ModelFallbacks) -> None:
    """The emergency button: one risk officer, executed at once, a review due after the fact."""
    plan = row.active
    assert plan is not None
    with st.form(f"fallback.execute.{row.model}.{row.environment}"):
        st.markdown(f"**Emergency: {inert(plan.describe())}** in {inert(row.environment)}")
        reason = st.text_input("Reason (recorded in the ledger)", key=f"fallback.reason.{row.environment}")
        sure = st.checkbox("I execute this fallback now, as an emergency; a review after the fact is due",
                           key=f"fallback.sure.{row.environment}")
        if st.form_submit_button("Execute fallback", type="primary", disabled=not ctx.identity.can("execute_fallback")):
            if not sure:
                st.error("Tick the confirmation first: the fallback is executed at once.")
                return
            try:
                command = fallback.ExecuteFallbackCommand(row.model, reason, row.environment)
                done = fallback.execute_fallback(ctx, command)
            except CountersignError as exc:
                show_error(exc)
                return
            st.success(f"Fallback {done.event_id} {done.outcome}; review due {done.review_due:%Y-%m-%d}.")


def fallback_panel(ctx: PortalContext, model: str) -> None:
    """Each environment's approved fallback, its last rehearsal, executions and their reviews."""
    st.subheader("Fallback and kill switch")
    rows = fallback.open_fallbacks(ctx, model=model).models
    if not rows:
        st.caption(f"{inert(model)} is not in use in an environment under oversight and has no fallback plan.")
    for row in rows:
        with st.container(border=True):
            if row.active is None:
                st.markdown(f":red-badge[no approved fallback] **{inert(row.environment)}** — in use: "
                            f"{inert(', '.join(row.in_use)) or '—'}.")
            else:
                _active_plan(ctx, row)
            plan_forms(ctx, row)  # proposed plans with the risk officers' decision, and a new proposal


def _active_plan(ctx: PortalContext, row: ModelFallbacks) -> None:
    """The approved plan in force: its rehearsals, executions, and the rehearsal and emergency buttons."""
    plan = row.active
    assert plan is not None
    st.markdown(f"**{inert(row.environment)}**: {inert(plan.describe())} · plan "
                f"`{plan.plan_id}` approved by {inert(', '.join(plan.approvers))}")
    last = row.rehearsals[-1] if row.rehearsals else None
    st.caption("Never rehearsed." if last is None else
               f"Last rehearsal {last.at:%Y-%m-%d %H:%M} by {inert(last.actor)}: "
               + ("passed" if last.passed else "FAILED — " + inert("; ".join(
                   c.detail for c in last.checks if not c.passed))))
    for e in row.executions:
        st.markdown(f"Executed {e.executed_at:%Y-%m-%d %H:%M} by {inert(e.actor)} ({inert(e.outcome)}, "
                    f"emergency) — review {inert(e.review_status)}, due {e.review_due:%Y-%m-%d}")
        review_form(ctx, e)  # another risk officer's review after the fact
    if row.finding:
        st.warning(inert(row.finding))
    if ctx.identity.can("rehearse_fallback"):
        _rehearse_button(ctx, row)
    if ctx.identity.can("execute_fallback"):
        _execute_form(ctx, row)


def _rehearse_button(ctx: PortalContext, row: ModelFallbacks) -> None:
    """A dry run of the approved plan: the fallback's bytes and the target registry, recorded; nothing written."""
    plan = row.active
    assert plan is not None
    if not st.button("Rehearse (dry run)", key=f"fallback.rehearse.{row.environment}"):
        return
    try:
        done = fallback.rehearse_fallback(ctx, plan.plan_id)
    except CountersignError as exc:
        show_error(exc)
        return
    detail = "; ".join(f"{c.name}: {c.detail}" for c in done.checks)
    if done.passed:
        st.success(f"Rehearsal passed ({inert(detail)}).")
    else:
        st.error(f"Rehearsal FAILED ({inert(detail)}).")


def incident_panel(ctx: PortalContext, model: str) -> None:
    """The model's incidents with their deadlines per rule, and a form to record one."""
    st.subheader("Incidents")
    view = incidents.open_incidents(ctx, incidents.IncidentQuery(model, include_closed=True))
    found = view.register.incidents
    if not found:
        st.caption(f"No incident recorded against {inert(model)}.")
    for i in found:
        with st.container(border=True):
            serious = f" · serious ({inert(i.serious_kind)})" if i.serious else ""
            st.markdown(f"`{i.incident_id}` **{inert(i.title)}** · {inert(i.version_id)} · {inert(i.severity)}"
                        f"{serious} · {i.status}  \n{inert_block(i.impact)}")
            for d in i.deadlines:
                st.markdown(f"{DEADLINE_BADGE[d.status(i.as_of)]} {inert(d.name)}: {d.due_at:%Y-%m-%d %H:%M} UTC"
                            + (f" — {inert(d.note)}" if d.note else ""))
            for e in i.events:
                st.caption(f"{e.at:%Y-%m-%d %H:%M} {inert(e.kind)} by {inert(e.actor)}"
                           + (f" ({inert(e.rule)})" if e.rule else "") + f": {inert(e.text)}")
            incident_forms(ctx, i)  # an action, a regulator report, the closure
    if view.can_record:
        _incident_form(ctx, model, view.versions)


def _incident_form(ctx: PortalContext, model: str, versions: tuple[str, ...]) -> None:
    with st.expander("Record an incident"), st.form(f"incident.record.{model}"):
        version = st.selectbox("Version", versions, key="incident.version")
        title = st.text_input("What happened", key="incident.title")
        impact = st.text_area("Impact", key="incident.impact")
        severity = st.selectbox("Severity", ("critical", "high", "medium", "low"), index=1, key="incident.severity")
        serious = st.checkbox("Serious incident under EU AI Act Art. 73", key="incident.serious")
        kind = st.selectbox("Art. 73 kind (when serious)", ("", *incidents.SERIOUS_KINDS), key="incident.kind")
        if st.form_submit_button("Record incident"):
            try:
                inc = incidents.record_incident(ctx, incidents.RecordIncidentCommand(
                    version, title, impact, severity, serious, serious_kind=kind or None))
            except CountersignError as exc:
                show_error(exc)
                return
            st.success(f"Recorded {inc.incident_id}; deadlines: "
                       + "; ".join(f"{d.name} {d.due_at:%Y-%m-%d}" for d in inc.deadlines))


def card_editor(ctx: PortalContext, model: str) -> None:
    """Edit the card's fields (checked against the templates' required fields), with history; write back on demand."""
    view = cards.open_card(ctx, model, read_registries=False)
    with st.expander(f"Edit the model card ({view.source}; {len(view.history)} edit(s))"):
        for template, missing in sorted(view.missing.items()):
            if missing:
                st.warning(f"Template {inert(template)} needs: {inert(', '.join(missing))}")
        with st.form(f"card.edit.{model}"):
            values = {}
            for spec in cards.FIELDS:
                current = view.fields.get(spec.name, "")
                if spec.choices:
                    options = ("", *spec.choices)
                    values[spec.name] = st.selectbox(spec.label, options, help=spec.help, key=f"card.{spec.name}",
                                                     index=options.index(current) if current in options else 0)
                else:
                    values[spec.name] = st.text_area(spec.label, current, help=spec.help, key=f"card.{spec.name}")
            comment = st.text_input("Why (recorded in the ledger)", key="card.comment")
            if st.form_submit_button("Save card", disabled=not ctx.identity.can("edit_card")):
                changes = {k: v for k, v in values.items() if v != view.fields.get(k, "")}
                try:
                    edit = cards.edit_card(ctx, cards.EditCardCommand(model, changes, comment))
                except CountersignError as exc:
                    show_error(exc)
                    return
                st.success(f"Saved edit {edit.edit_id}: {', '.join(edit.changed)}. Write it back to the registries "
                           "below (or `countersign card write-back`); conflicts are shown, never overwritten.")
        if view.history and ctx.identity.can("write_card"):
            _write_back(ctx, model)
        for h in reversed(view.history):
            st.caption(f"{h.edited_at:%Y-%m-%d %H:%M} {inert(h.editor)}: {inert(', '.join(h.changed))}"
                       + (f" — {inert(h.comment)}" if h.comment else ""))


def regimes_panel(ctx: PortalContext, model: str) -> None:
    """The regimes ``[policy] regimes`` applies to this model today, and the next phase of each."""
    import datetime as dt

    from governance.regimes import policy_status, regimes_on

    today = dt.datetime.now(dt.UTC).date()
    st.subheader("Regimes in force")
    st.caption(f"On {today:%Y-%m-%d}: {inert(policy_status(ctx.settings, today))}. Dates come from "
               "governance/data/regimes.toml (or the workspace's regimes.toml).")
    for state in regimes_on(ctx.settings, today, model=model, workspace_root=ctx.workspace.root):
        st.markdown(f"- {inert(state.describe())}")


def retention_panel(ctx: PortalContext) -> None:
    """Every file of exports/, checkpoints/ and cache/ and until when it must be kept ([policy.retention])."""
    import pandas as pd

    from governance.usecases.retention import open_retention

    st.subheader("Retention")
    view = open_retention(ctx)
    st.caption(f"{view.held} of {len(view.files)} file(s) under retention today; nothing under "
               "retention can be purged (`countersign retention purge`, admins, recorded in the ledger).")
    if view.files:
        show_table(pd.DataFrame([{"file": str(view.relative(f)), "kind": f.kind, "created": f.created,
                                  "dated by": f.source, "keep until": f.keep_until, "held": f.held(view.today)}
                                 for f in view.files]), key="retention.table")


def _write_back(ctx: PortalContext, model: str) -> None:
    """Write Countersign's card to each registry holding the model; a field the registry changed is shown, kept."""
    if not st.button("Write back to the registries", key=f"card.write_back.{model}"):
        return
    try:
        report = cards.write_back(ctx, cards.WriteBackCommand(model))
    except CountersignError as exc:
        show_error(exc)
        return
    for r in report.results:
        line = f"{inert(r.account)}: {r.status}" + (f" ({inert(r.target)})" if r.target else "")
        if r.status == "conflict":
            st.warning(line + " — the registry changed since the edit; nothing written there: " + "; ".join(
                f"{inert(c.field)}: registry has “{inert(c.registry)}”, Countersign “{inert(c.countersign)}”"
                for c in r.conflicts))
        elif r.status in ("failed", "unsupported"):
            st.error(f"{line} — {inert(r.detail)}")
        else:
            st.success(line + (f"; kept in Countersign only: {inert(', '.join(r.kept_here))}" if r.kept_here else ""))
