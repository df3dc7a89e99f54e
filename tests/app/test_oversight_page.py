"""The Oversight page: what is due, sorting, recording a periodic review, the empty state; the Model page's panel."""

from __future__ import annotations

from pathlib import Path

from governance.context import Context
from tests.app.test_pages import texts

D = "demo.countersign.dev"
CREDIT, CLAIMS, REPAIR = "lab-prod:credit-approval:1", "lab-prod:claims-fraud:2", "lab-prod:repair-cost:2"


def test_the_risk_officer_sees_what_is_due_sorts_it_and_records_a_review(demo_copy, app_factory) -> None:
    at = app_factory(demo_copy.root, persona=f"risk.officer@{D}").run()
    at.switch_page("app_pages/oversight.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    # the never reviewed, never signed-off version is due now (issue 35, finding 8), so it counts as due too
    assert (metrics["Overdue"], metrics["Due within 14 days"], metrics["Never reviewed"]) == ("1", "2", "1")
    table = at.dataframe[0].value
    assert list(table["version"]) == [CREDIT, REPAIR, CLAIMS]  # earliest due date first
    assert list(table["status"]) == ["overdue", "due", "due"]  # never reviewed, never signed off: due now
    at.radio(key="ovs.sort").set_value("tier").run()
    assert list(at.dataframe[0].value["tier"]) == ["high", "medium", "low"]

    at.selectbox(key="ovs.version").set_value(CLAIMS).run()
    at.radio(key="ovs.outcome").set_value("continue").run()
    at.text_area(key="ovs.comment").input("Drift within limits after the March retrain; continue.").run()
    at.toggle(key="ovs.refresh").set_value(False).run()
    at.button(key="ovs.record").click().run()
    assert not at.exception, at.exception
    assert f"of {CLAIMS} recorded (continue)" in texts(at)
    assert at.text_area(key="ovs.comment").value == ""  # issue 35, finding 14: the comment stayed in the box
    rows = at.dataframe[0].value.set_index("version")
    assert rows.loc[CLAIMS, "status"] == "scheduled" and rows.loc[CLAIMS, "outcome"] == "continue"
    assert {m.label: m.value for m in at.metric}["Due within 14 days"] == "1"


def test_others_see_the_schedule_but_cannot_record(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=f"auditor@{D}").run()
    at.switch_page("app_pages/oversight.py").run()
    assert not at.exception
    assert len(at.dataframe[0].value) == 3
    assert not [b for b in at.button if b.key == "ovs.record"]
    assert "Periodic reviews are recorded by a risk officer" in texts(at)


def test_an_empty_workspace_says_what_to_do(tmp_path: Path, app_factory) -> None:
    from governance.config import Workspace

    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text('[workspace]\ndemo = true\n[roles]\n"auditor@demo.countersign.dev" = ["auditor"]\n',
                              encoding="utf-8")
    at = app_factory(ws.root, persona=f"auditor@{D}").run()
    at.switch_page("app_pages/oversight.py").run()
    assert not at.exception
    assert "No version is in use in prod yet (serving on an endpoint, or holding a registry label mapped to it" \
        in texts(at)
    assert "review_every_days" in texts(at)


def test_the_model_page_shows_the_periodic_reviews_of_a_version(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=f"auditor@{D}").run()
    at.switch_page("app_pages/model.py").run()
    at.selectbox(key="model.name").set_value("credit-approval").run()
    at.selectbox(key="model.version").set_value(CREDIT).run()
    assert not at.exception
    shown = texts(at)
    assert "Periodic reviews" in shown and "overdue" in shown
    assert "Quarterly review: approval rates stable" in shown and f"validator@{D}" in shown


def test_a_monitoring_breach_is_listed_as_a_triggered_review_apart_from_the_calendar(demo_copy, app_factory) -> None:
    from governance.catalog import Catalog
    from governance.config import load_settings
    from governance.identity import identity_for
    from governance.oversight import monitor

    settings, catalog = load_settings(demo_copy), Catalog(demo_copy.catalog_path)
    monitor(Context(demo_copy, settings, catalog, identity_for(settings, f"risk.officer@{D}", source="cli")))
    at = app_factory(demo_copy.root, persona=f"auditor@{D}").run()
    at.switch_page("app_pages/oversight.py").run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Triggered"] == "1"
    assert "Triggered reviews — due now" in texts(at)
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    triggered = next(t for cols, t in tables.items() if "trigger" in cols)
    assert list(triggered["version"]) == [CLAIMS] and list(triggered["trigger"]) == ["importance-weighted drift"]
    assert "claim_amount" in triggered["columns"].iloc[0] and triggered["figure"].iloc[0] > 0.25
    calendar = next(t for cols, t in tables.items() if "status" in cols)
    assert list(calendar["version"]) == [CREDIT, REPAIR, CLAIMS]  # the calendar itself is unchanged
