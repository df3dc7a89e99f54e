"""The Model page's lifecycle panels (issue 38): the fallback with the risk officers' emergency button, incidents
with their deadlines, and the model card editor; each writes through its governance service and the ledger."""

from __future__ import annotations

import datetime as dt

from governance import fallback, incidents, ledger
from tests.app.shown import texts
from tests.governance.test_fallback import IN_USE, approved_plan, ctx_as, registry_status

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
