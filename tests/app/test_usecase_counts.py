"""What a page run costs, counted under AppTest: Review with stored evidence builds no connector and fetches nothing;
an approval round trip on Requests (open, Approve, Confirm approval) evaluates the gate checklist once.
The counters are spies that call the real functions (tests/spies.py)."""

from __future__ import annotations

from governance.catalog import Catalog
from governance.demo_history import open_request_id
from governance.promotion import get_request
from portal.context import SELECTED_REQUEST, SELECTED_VERSION
from tests.spies import count_connector_calls, count_gate_evaluations

D = "demo.countersign.dev"
STORED = "lab-staging:claims-fraud:3"  # drift, bias and explain evidence stored in the demo


def test_review_page_with_stored_evidence_reaches_no_connector(demo_workspace, app_factory, monkeypatch) -> None:
    at = app_factory(demo_workspace.root, persona=f"risk.officer@{D}").run()
    at.session_state[SELECTED_VERSION] = STORED
    calls = count_connector_calls(monkeypatch)
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="review.version").value == STORED
    assert at.get("vega_lite_chart"), "the stored evidence is drawn"
    at.run()  # a rerun (any widget) reads the same again
    assert calls.built == [] and calls.fetched == []


def test_an_approval_round_trip_on_the_requests_page_evaluates_the_gates_once(demo_copy, app_factory,
                                                                              monkeypatch) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    rid = open_request_id(catalog)
    at = app_factory(demo_copy.root, persona=f"risk.officer@{D}").run()
    at.session_state[SELECTED_REQUEST] = rid  # as when another page links to it
    gates = count_gate_evaluations(monkeypatch)
    at.switch_page("app_pages/requests.py").run()  # the request drawn: its gates evaluated
    assert at.selectbox(key="req.id").value == rid
    at.text_area(key="req.comment").set_value("Evidence reviewed.").run()
    at.button(key="req.approve").click().run()  # checked, then a confirmation
    assert "req.confirm_approve" in {b.key for b in at.button}
    calls_before_confirm = len(gates)
    at.button(key="req.confirm_approve").click().run(timeout=120)
    assert not at.exception, at.exception
    assert get_request(catalog, rid).status in ("approved", "executed")
    assert calls_before_confirm == 1
    # the decision reused that checklist; the redraw after it reads the changed request once more
    assert len(gates) == 2
