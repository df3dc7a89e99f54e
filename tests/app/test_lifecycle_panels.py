"""The Model page's lifecycle panels (issue 38): the fallback with the risk officers' emergency button, incidents
with their deadlines, and the model card editor; each writes through its governance service and the ledger."""

from __future__ import annotations

import datetime as dt

from governance import fallback, incidents, ledger
from tests.app.shown import texts
from tests.governance.test_fallback import EARLIER, IN_USE, approved_plan, ctx_as, registry_status

OFFICER = "risk.officer@demo.countersign.dev"


def _model_page(app_factory, ws, persona: str):
    at = app_factory(ws.root, persona=persona).run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("claims-fraud").run()
    assert not at.exception, at.exception
    return at


def test_no_fallback_is_flagged_and_a_data_scientist_sees_no_emergency_button(demo_copy, app_factory) -> None:
    at = _model_page(app_factory, demo_copy, "data.scientist@demo.countersign.dev")
    shown = texts(at)
    assert "Fallback and kill switch" in shown and "no approved fallback" in shown
    assert not [b for b in at.button if b.label == "Execute fallback"]


def test_a_risk_officer_executes_the_fallback_from_the_model_page(demo_copy, app_factory) -> None:
    plan = approved_plan(demo_copy)
    at = _model_page(app_factory, demo_copy, OFFICER)
    assert f"plan `{plan.plan_id}`" in " ".join(m.value for m in at.markdown)
    at.text_input(key="fallback.reason.prod").set_value("v2 flags every claim of one broker")
    at.checkbox(key="fallback.sure.prod").check()
    next(b for b in at.button if b.label == "Execute fallback").click().run()
    assert not at.exception, at.exception
    assert any("review due" in s.value for s in at.success), texts(at)
    (row,) = fallback.register(ctx_as(demo_copy, "auditor"), model="claims-fraud").models
    (done,) = row.executions
    assert done.emergency and done.actor == OFFICER and done.reason == "v2 flags every claim of one broker"
    assert registry_status(demo_copy, 1) == "Approved" and registry_status(demo_copy, 2) == "Rejected"


def test_incidents_show_their_deadlines_and_the_card_editor_records_an_edit(demo_copy, app_factory) -> None:
    aware = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) - dt.timedelta(days=10)
    inc = incidents.record_incident(ctx_as(demo_copy, "data.scientist"), IN_USE, "Every claim of one broker flagged",
                                    "312 claims held", "high", False, aware_at=aware, occurred_at=aware)
    at = _model_page(app_factory, demo_copy, OFFICER)
    shown = texts(at)
    assert inc.incident_id in shown and "Every claim of one broker flagged" in shown and "overdue" in shown
    at.text_area(key="card.limitations").set_value("Not for claims above 50,000 EUR.")
    at.text_input(key="card.comment").set_value("limit from the validation report")
    next(b for b in at.button if b.label == "Save card").click().run()
    assert not at.exception, at.exception
    assert any("Saved edit" in s.value for s in at.success), texts(at)
    entry = ledger.entries_for(ctx_as(demo_copy, "auditor").catalog, "model:claims-fraud")[-1]
    assert entry.action == "card.edit" and entry.actor == OFFICER
    assert entry.payload["changed"]["limitations"]["to"] == "Not for claims above 50,000 EUR."


def test_the_model_page_names_the_regimes_and_the_audit_page_the_retention(demo_copy, app_factory) -> None:
    approved_plan(demo_copy)  # its ledger entries are sealed: a checkpoint file under retention
    at = _model_page(app_factory, demo_copy, "auditor@demo.countersign.dev")
    shown = texts(at)
    assert "Regimes in force" in shown and "SR 26-2" in shown and "EU AI Act" in shown
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception, at.exception
    assert "Retention" in texts(at) and "under retention today" in texts(at)
    (table,) = [d.value for d in at.dataframe if "keep until" in d.value.columns]
    assert {"file", "kind", "keep until", "held"} <= set(table.columns) and table["held"].all()


def test_write_back_from_the_model_page_shows_a_registry_conflict_and_leaves_it(demo_copy, app_factory) -> None:
    import json

    from governance import cards

    cards.edit_card(ctx_as(demo_copy, "data.scientist"), "claims-fraud", {"limitations": "Not above 50,000 EUR."},
                    "agreed")
    path = demo_copy.root / "registry" / "prod" / "claims-fraud" / "card.json"
    doc = json.loads(path.read_text())
    doc["content"]["limitations"] = "Edited in the registry by the prod team."
    path.write_text(json.dumps(doc))
    at = _model_page(app_factory, demo_copy, OFFICER)
    next(b for b in at.button if b.label == "Write back to the registries").click().run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "lab-prod: conflict" in shown and "Edited in the registry by the prod team." in shown
    assert "lab-staging: written" in shown
    assert json.loads(path.read_text())["content"]["limitations"] == "Edited in the registry by the prod team."


def test_an_engineer_rehearses_the_fallback_from_the_model_page(demo_copy, app_factory) -> None:
    plan = approved_plan(demo_copy)
    at = _model_page(app_factory, demo_copy, "ml.engineer@demo.countersign.dev")
    assert not [b for b in at.button if b.label == "Execute fallback"]  # the emergency path is the risk officers'
    next(b for b in at.button if b.label == "Rehearse (dry run)").click().run()
    assert not at.exception, at.exception
    assert any("Rehearsal passed" in s.value for s in at.success), texts(at)
    (row,) = fallback.register(ctx_as(demo_copy, "auditor"), model="claims-fraud").models
    assert [(r.plan_id, r.passed) for r in row.rehearsals] == [(plan.plan_id, True)]
    assert registry_status(demo_copy, 2) == "Approved"  # a rehearsal writes nothing to the registry


# -- the forms the CLI had alone: propose and approve a fallback plan, act on and close an incident ----------------


def _click(at, label: str):
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def test_an_engineer_proposes_a_fallback_and_two_risk_officers_approve_it_from_the_model_page(
        demo_copy, app_factory, monkeypatch) -> None:
    # the model's tier asks two approvals: N of M, distinct people, never the proposer; through the CLI's use cases
    from governance.usecases import fallback as fallback_uc
    from tests.spies import record_calls

    proposed = record_calls(monkeypatch, fallback_uc, "propose_fallback")
    decided = record_calls(monkeypatch, fallback_uc, "decide_plan")
    config = demo_copy.root / "countersign.toml"
    config.write_text(config.read_text().replace('[models.claims-fraud]\nrisk_tier = "medium"',
                                                 '[models.claims-fraud]\nrisk_tier = "high"'))
    at = _model_page(app_factory, demo_copy, "ml.engineer@demo.countersign.dev")
    assert not [b for b in at.button if b.label == "Approve plan"]
    at.selectbox(key="fallback.propose.prod.kind").set_value("version")
    at.selectbox(key="fallback.propose.prod.version").set_value(EARLIER)
    at.text_area(key="fallback.propose.prod.reason").set_value("v1 served a year without findings")
    _click(at, "Propose plan")
    assert any("proposed" in s.value and "2 risk officer approval" in s.value for s in at.success), texts(at)
    (plan,) = fallback.plans(ctx_as(demo_copy, "auditor"), model="claims-fraud")
    assert (plan.status, plan.proposed_by, plan.fallback_version_id) == ("proposed", "ml.engineer@demo.countersign.dev",
                                                                         EARLIER)
    assert plan.fallback_sha256 == ctx_as(demo_copy, "auditor").catalog.version(EARLIER).artifact_sha256

    for officer, count in ((OFFICER, "1/2"), ("validator@demo.countersign.dev", "2/2")):
        at = _model_page(app_factory, demo_copy, officer)
        assert f"`{plan.plan_id}`" in " ".join(m.value for m in at.markdown)
        at.text_input(key=f"fallback.comment.{plan.plan_id}").set_value("checked against runbook CL-7")
        _click(at, "Approve plan")
        assert any(count in s.value for s in at.success), texts(at)
        if officer == OFFICER:  # the same person again: refused in one line, nothing written
            at.text_input(key=f"fallback.comment.{plan.plan_id}").set_value("once more")
            _click(at, "Approve plan")
            assert any("already approved" in e.value for e in at.error), texts(at)
    (done,) = fallback.plans(ctx_as(demo_copy, "auditor"), model="claims-fraud")
    assert done.status == "approved" and set(done.approvers) == {OFFICER, "validator@demo.countersign.dev"}
    actions = [e.action for e in ledger.entries_for(ctx_as(demo_copy, "auditor").catalog, f"fallback:{plan.plan_id}")]
    assert actions == ["fallback.propose", "fallback.approve", "fallback.approve"]
    assert len(proposed) == 1 and len(decided) == 3  # the refused second approval went through it too


def test_another_risk_officer_reviews_an_emergency_execution_after_the_fact_from_the_model_page(
        demo_copy, app_factory, monkeypatch) -> None:
    # the review after the fact was CLI-only: the executing officer sees no review form (four eyes), another does
    from governance.usecases import fallback as fallback_uc
    from tests.spies import record_calls

    reviewed = record_calls(monkeypatch, fallback_uc, "review_fallback")
    approved_plan(demo_copy)
    at = _model_page(app_factory, demo_copy, OFFICER)
    at.text_input(key="fallback.reason.prod").set_value("v2 flags every claim of one broker")
    at.checkbox(key="fallback.sure.prod").check()
    _click(at, "Execute fallback")
    (row,) = fallback.register(ctx_as(demo_copy, "auditor"), model="claims-fraud").models
    (done,) = row.executions
    at = _model_page(app_factory, demo_copy, OFFICER)
    assert not [b for b in at.button if b.label == "Record the review"]  # she executed it
    at = _model_page(app_factory, demo_copy, "validator@demo.countersign.dev")
    at.text_area(key=f"fallback.review.{done.event_id}").set_value("justified: the broker feed was corrupt")
    _click(at, "Record the review")
    assert any("reviewed" in s.value for s in at.success), texts(at)
    (row,) = fallback.register(ctx_as(demo_copy, "auditor"), model="claims-fraud").models
    (after,) = row.executions
    assert (after.review_status, after.reviewed_by) == ("reviewed", "validator@demo.countersign.dev")
    assert len(reviewed) == 1
    at = _model_page(app_factory, demo_copy, "validator@demo.countersign.dev")
    assert not [b for b in at.button if b.label == "Record the review"]  # reviewed once, the form is gone


def test_an_incident_gets_actions_and_a_report_and_only_a_risk_officer_closes_it_with_its_resolution(
        demo_copy, app_factory, monkeypatch) -> None:
    from governance.usecases import incidents as incident_uc
    from tests.spies import record_calls

    steps = record_calls(monkeypatch, incident_uc, "incident_step")
    inc = incidents.record_incident(ctx_as(demo_copy, "data.scientist"), IN_USE, "Every claim of one broker flagged",
                                    "312 claims held", "high", True, serious_kind="fundamental_rights")
    key = f"incident.manage.{inc.incident_id}"
    at = _model_page(app_factory, demo_copy, "ml.engineer@demo.countersign.dev")
    assert at.radio(key=f"{key}.step").options == ["Record an action taken", "Record the report a rule asks for"]
    at.radio(key=f"{key}.step").set_value("report")
    at.selectbox(key=f"{key}.rule").set_value(incidents.ART_73)
    at.text_area(key=f"{key}.text").set_value("Reported to the market surveillance authority, ref MSA-2026-114")
    _click(at, "Record")
    at.radio(key=f"{key}.step").set_value("action")
    at.text_area(key=f"{key}.text").set_value("Rolled back to v1 while the broker feed is fixed")
    _click(at, "Record")

    at = _model_page(app_factory, demo_copy, OFFICER)
    at.radio(key=f"{key}.step").set_value("close")
    at.text_area(key=f"{key}.text").set_value("ok")  # a resolution is required: refused, still open
    _click(at, "Record")
    assert any("resolution" in e.value for e in at.error), texts(at)
    assert incidents.get_incident(ctx_as(demo_copy, "auditor"), inc.incident_id).status == "open"
    at.text_area(key=f"{key}.text").set_value("Broker feed fixed and v2 re-validated; no claim was refused")
    _click(at, "Record")
    assert any("it is closed" in s.value for s in at.success), texts(at)
    closed = incidents.get_incident(ctx_as(demo_copy, "auditor"), inc.incident_id)
    assert [(e.kind, e.actor.split("@")[0]) for e in closed.events] == [
        ("report", "ml.engineer"), ("action", "ml.engineer"), ("close", "risk.officer")]
    (art73,) = [d for d in closed.deadlines if d.rule == incidents.ART_73]
    assert art73.status(closed.as_of) == "met"
    at = _model_page(app_factory, demo_copy, OFFICER)
    assert not [r for r in at.radio if r.key == f"{key}.step"]  # nothing more to do on a closed incident
    assert [c[1].step for c in steps] == ["report", "action", "close", "close"]  # the CLI's use case, each time


def test_the_panels_and_the_cli_call_the_same_use_cases(demo_copy, app_factory, monkeypatch, capsys) -> None:
    """Issue 33: the Model page's lifecycle panels, the Audit page's retention and their CLI commands each call one
    use case of governance.usecases, the same one (counted by spies that call the real function)."""
    from countersign_cli.main import main
    from governance.usecases import cards as card_uc
    from governance.usecases import fallback as fallback_uc
    from governance.usecases import incidents as incident_uc
    from governance.usecases import retention as retention_uc
    from tests.spies import record_calls

    plan = approved_plan(demo_copy)
    spied = {(m.__name__, n): record_calls(monkeypatch, m, n) for m, n in (
        (fallback_uc, "open_fallbacks"), (fallback_uc, "rehearse_fallback"), (incident_uc, "open_incidents"),
        (card_uc, "open_card"), (retention_uc, "open_retention"))}
    at = _model_page(app_factory, demo_copy, "ml.engineer@demo.countersign.dev")
    next(b for b in at.button if b.label == "Rehearse (dry run)").click().run()
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception, at.exception
    from_page = {k: len(v) for k, v in spied.items()}
    assert all(from_page.values()), from_page
    ws = ["--workspace", str(demo_copy.root), "--actor", "ml.engineer@demo.countersign.dev"]
    for argv in (["fallback-plan", "list"], ["fallback-plan", "rehearse", plan.plan_id], ["incident", "list"],
                 ["card", "show", "claims-fraud"], ["retention", "list"]):
        assert main([*argv, *ws, "--json"]) == 0, capsys.readouterr().err
    from_cli = {k: len(v) - from_page[k] for k, v in spied.items()}
    assert all(from_cli.values()), from_cli
