"""The Requests and Audit pages through AppTest, as the demo personas: decisions, hidden actions, verification."""

from __future__ import annotations

import datetime as dt

from governance.catalog import Catalog
from governance.demo_history import open_request_id
from governance.promotion import MAX_ACCEPTANCE, get_request
from tests.app.shown import texts

D = "demo.countersign.dev"



def open_requests_page(app_factory, root, persona: str):
    at = app_factory(root, persona=f"{persona}@{D}").run()
    at.switch_page("app_pages/requests.py").run()
    assert not at.exception, at.exception
    return at


def keys(at, kind: str) -> set[str]:
    return {w.key for w in getattr(at, kind)}


def test_risk_officer_sees_the_open_request_and_can_decide(demo_workspace, app_factory) -> None:
    rid = open_request_id(Catalog(demo_workspace.catalog_path))
    at = open_requests_page(app_factory, demo_workspace.root, "risk.officer")
    at.selectbox(key="req.id").set_value(rid).run()
    assert "Policy gates" in texts(at)
    assert {"req.approve", "req.reject"} <= keys(at, "button")
    assert "req.cancel" not in keys(at, "button")


def test_requester_and_auditor_get_no_approve_button(demo_workspace, app_factory) -> None:
    rid = open_request_id(Catalog(demo_workspace.catalog_path))
    eng = open_requests_page(app_factory, demo_workspace.root, "ml.engineer")
    eng.selectbox(key="req.id").set_value(rid).run()
    assert "req.approve" not in keys(eng, "button") and "req.cancel" in keys(eng, "button")
    aud = open_requests_page(app_factory, demo_workspace.root, "auditor")
    aud.selectbox(key="req.id").set_value(rid).run()
    assert not ({"req.approve", "req.reject", "req.cancel", "req.execute"} & keys(aud, "button"))
    assert "You have no action on this request." in texts(aud)


def test_reject_needs_a_comment_then_records_it(demo_copy, app_factory) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    rid = open_request_id(catalog)
    at = open_requests_page(app_factory, demo_copy.root, "risk.officer")
    at.selectbox(key="req.id").set_value(rid).run()
    at.button(key="req.reject").click().run()
    assert "comment is required" in texts(at)
    assert get_request(catalog, rid).status == "pending"
    at.text_area(key="req.comment").set_value("Drift evidence missing for v3.").run()
    at.button(key="req.reject").click().run()
    assert not at.exception
    assert get_request(catalog, rid).status == "rejected"


def test_approve_open_request_executes(demo_copy, app_factory) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    rid = open_request_id(catalog)
    at = open_requests_page(app_factory, demo_copy.root, "risk.officer")
    at.selectbox(key="req.id").set_value(rid).run()
    assert not [c for c in at.checkbox if c.key == "req.accept"]  # every gate passes on the demo's evidence
    at.text_area(key="req.comment").set_value("Evidence reviewed.").run()
    at.button(key="req.approve").click().run()
    at.button(key="req.confirm_approve").click().run()  # the confirmation that says it will promote
    assert not at.exception, at.exception
    r = get_request(catalog, rid)
    assert r.status == "executed" and r.target_version_id


def test_request_then_approve_with_risk_acceptance(demo_copy, app_factory) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    eng = open_requests_page(app_factory, demo_copy.root, "ml.engineer")
    eng.selectbox(key="req.new.version").set_value("lab-dev:claims-fraud:4").run()
    eng.selectbox(key="req.new.to").set_value("staging").run()
    eng.text_area(key="req.new.reason").set_value("v4 for staging soak").run()
    eng.button(key="req.new.submit").click().run()
    assert not eng.exception, eng.exception
    rid = catalog.query_df("SELECT request_id FROM promotion_requests WHERE version_id = 'lab-dev:claims-fraud:4'"
                           )["request_id"][0]
    at = open_requests_page(app_factory, demo_copy.root, "risk.officer")
    at.selectbox(key="req.id").set_value(rid).run()
    at.text_area(key="req.comment").set_value("Shadow results reviewed.").run()
    at.checkbox(key="req.accept").check().run()
    at.text_area(key="req.accept.why").set_value("Evidence jobs run next week; the shadow period showed no drift.").run()
    # the date picker offers only what the server accepts: from tomorrow, for less than MAX_ACCEPTANCE
    until = at.date_input(key="req.accept.until").proto
    today = dt.date.today()
    assert (until.min, until.max) == (f"{today + dt.timedelta(days=1):%Y-%m-%d}",
                                      f"{today + MAX_ACCEPTANCE - dt.timedelta(days=1):%Y-%m-%d}")
    at.button(key="req.approve").click().run()
    at.button(key="req.confirm_approve").click().run()
    assert not at.exception, at.exception
    r = get_request(catalog, rid)
    assert r.status == "executed" and r.target_version_id


def test_audit_page_verifies_and_checkpoints(demo_copy, app_factory) -> None:
    at = app_factory(demo_copy.root, persona=f"auditor@{D}").run()
    at.switch_page("app_pages/audit.py").run()
    at.button(key="audit.verify").click().run()
    assert "ledger intact" in texts(at)
    at.button(key="audit.checkpoint").click().run()
    assert "Checkpoint of" in texts(at)
    at.multiselect(key="audit.actions").set_value(["request.reject"]).run()
    assert set(at.dataframe[0].value["action"]) == {"rejected"}  # the action in words
    viewer = app_factory(demo_copy.root, persona=f"data.scientist@{D}").run()
    viewer.switch_page("app_pages/audit.py").run()
    assert "audit.checkpoint" not in keys(viewer, "button")


def _expected_buttons(email: str, role: str) -> set[str]:
    """What the table of permissions says this persona may do to the open request (independent of the page)."""
    from governance.identity import PERMISSIONS

    requester = f"ml.engineer@{D}"
    creator = f"data.scientist@{D}"
    out = set()
    if role in PERMISSIONS["approve"] and email not in (requester, creator):
        out.add("req.approve")
    if role in PERMISSIONS["reject"]:
        out.add("req.reject")
    if role in PERMISSIONS["cancel_request"] and (email == requester or role == "admin"):
        out.add("req.cancel")
    if role in PERMISSIONS["request_promotion"]:
        out.add("req.new.submit")
    return out


def test_every_persona_sees_exactly_the_actions_it_may_take(demo_workspace, app_factory) -> None:
    from governance.demo import PERSONAS

    rid = open_request_id(Catalog(demo_workspace.catalog_path))
    for email, (_, role) in sorted(PERSONAS.items()):
        at = app_factory(demo_workspace.root, persona=email).run()
        at.switch_page("app_pages/requests.py").run()
        at.selectbox(key="req.id").set_value(rid).run()
        assert not at.exception, (email, at.exception)
        shown = keys(at, "button") & {"req.approve", "req.reject", "req.cancel", "req.execute", "req.new.submit"}
        assert shown == _expected_buttons(email, role), email
