"""Approve UX on the Requests page (AppTest): a confirmation that says what will happen, the "1 of 2" state with
nothing more offered to the first approver, a cleared comment, promoted-not-deployed wording, the pending badge
and the register of risk acceptances."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json

from countersign_cli.main import main as cli_main
from governance.catalog import Catalog
from governance.config import load_settings
from governance.context import Context
from governance.demo_history import open_request_id
from governance.identity import identity_for
from governance.policy import evaluate
from governance.promotion import RiskAcceptance, approve, create_request, get_request
from tests.app.shown import plain, texts

D = "demo.countersign.dev"
HIGH = "lab-staging:credit-approval:2"  # high tier: two approvers
DECISION_KEYS = {"req.approve", "req.reject", "req.confirm_approve"}



def buttons(at) -> set[str]:
    return {b.key for b in at.button}


def open_request(app_factory, root, persona: str, rid: str):
    at = app_factory(root, persona=f"{persona}@{D}").run()
    at.switch_page("app_pages/requests.py").run()
    at.selectbox(key="req.id").set_value(rid).run()
    assert not at.exception, at.exception
    return at


def who(ws, name: str):
    return identity_for(load_settings(ws), f"{name}@{D}", source="demo")


def high_tier_request(ws) -> str:
    return create_request(Context(ws, load_settings(ws), Catalog(ws.catalog_path), who(ws, "ml.engineer")), HIGH, "prod",
                          "Retrained credit model").request_id


def failing_gates(ws, version_id: str) -> tuple[str, ...]:
    checklist = evaluate(Catalog(ws.catalog_path), load_settings(ws), version_id, "prod")
    return tuple(r.gate for r in checklist.blocking)


def cli_json(*argv: str):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(list(argv)) == 0
    return json.loads(out.getvalue())


def test_approve_first_says_it_will_promote_then_promotes_and_tells_promoted_from_deployed(
        demo_copy, app_factory) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    rid = open_request_id(catalog)
    at = open_request(app_factory, demo_copy.root, "risk.officer", rid)
    at.button(key="req.approve").click().run()  # an approval that would be refused is refused at once, unconfirmed
    assert "comment is required" in texts(at) and "req.confirm_approve" not in buttons(at)
    at.text_area(key="req.comment").set_value("Evidence reviewed.").run()
    at.button(key="req.approve").click().run()
    assert not at.exception, at.exception
    assert get_request(catalog, rid).status == "pending"  # nothing happened yet: the page asks first
    confirmation = " ".join(plain(i.value) for i in at.info)
    assert ("This is the only approval needed: approving will promote lab-staging:claims-fraud:3 to prod (register "
            "lab-staging:claims-fraud:3 in account lab-prod (prod) and mark it Approved in the source registry "
            "(lab-staging)") in confirmation
    assert "lab-prod's own deployment pipeline" in confirmation

    at.button(key="req.confirm_approve").click().run(timeout=120)
    assert not at.exception, at.exception
    done = get_request(catalog, rid)
    assert done.status == "executed" and done.target_version_id
    said = texts(at)
    assert f"Promoted as {done.target_version_id}: registered in account lab-prod" in said
    assert "Not deployed by Countersign: lab-prod's own pipeline deploys it" in said
    assert not any("Confirm your approval" in m.value for m in at.markdown)


def test_back_leaves_the_request_untouched(demo_copy, app_factory) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    rid = open_request_id(catalog)
    at = open_request(app_factory, demo_copy.root, "risk.officer", rid)
    at.text_area(key="req.comment").set_value("Evidence reviewed.").run()
    at.button(key="req.approve").click().run()
    at.button(key="req.confirm_back").click().run()
    assert not at.exception, at.exception
    assert "req.confirm_approve" not in buttons(at)
    assert at.text_area(key="req.comment").value == "Evidence reviewed."  # going back keeps what was typed
    assert get_request(catalog, rid).status == "pending" and not get_request(catalog, rid).approvers


def test_first_of_two_approvals_waits_clears_the_comment_and_offers_nothing_more(demo_copy, app_factory) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    rid = high_tier_request(demo_copy)
    gates = failing_gates(demo_copy, HIGH)
    at = open_request(app_factory, demo_copy.root, "risk.officer", rid)
    at.text_area(key="req.comment").set_value("Coefficients reviewed with credit risk.").run()
    if gates:  # the demo's evidence for v2 is incomplete: accept it, as the first officer would
        at.checkbox(key="req.accept").check().run()
        at.text_area(key="req.accept.why").set_value("Evidence is recomputed next week by the validation team.").run()
    at.button(key="req.approve").click().run()
    confirmation = " ".join(plain(i.value) for i in at.info)
    assert "This is the 1st of 2 approvals: approving records your approval only. Nothing is promoted yet" \
        in confirmation
    if gates:
        assert f"Your risk acceptance of {', '.join(gates)} is recorded with it" in confirmation
    at.button(key="req.confirm_approve").click().run()
    assert not at.exception, at.exception

    r = get_request(catalog, rid)
    assert (r.status, r.approvers) == ("pending", (f"risk.officer@{D}",))
    said = texts(at)
    assert "1 of 2 approvals, waiting for another risk officer" in said
    assert all(t.value != "Coefficients reviewed with credit risk." for t in at.text_area)  # the comment is gone
    assert not (DECISION_KEYS & buttons(at))  # nothing more for the first approver
    assert "You approved this request and have no further action on it." in said

    # the second risk officer is told this approval completes it and promotes
    second = open_request(app_factory, demo_copy.root, "validator", rid)
    assert "1 of 2 approvals, waiting for another risk officer" in texts(second)
    second.text_area(key="req.comment").set_value("Independent validation complete.").run()
    second.button(key="req.approve").click().run()
    assert ("This is the 2nd of 2 approvals: approving will promote lab-staging:credit-approval:2 to prod "
            "(register lab-staging:credit-approval:2 in account lab-prod") in " ".join(plain(i.value) for i in second.info)


def _oracle_waiting(ws, email: str) -> int:
    """Pending requests ``email`` may approve, from the CLI's queue and the registry facts (not the page's code)."""
    catalog = Catalog(ws.catalog_path)
    pending = cli_json("requests", "--workspace", str(ws.root), "--status", "pending", "--json")
    n = 0
    for r in pending:
        approvers = {a.strip().lower() for a in (r["approvers"] or "").split(",") if a.strip()}
        created_by = (catalog.version(r["version_id"]).created_by or "").lower()
        if email.lower() not in {r["requester"].lower(), created_by} | approvers:
            n += 1
    return n


def _badge(at) -> str:
    return " ".join(m.value for m in at.sidebar.markdown if "your approval" in m.value)


def test_pending_badge_counts_what_this_officer_may_approve(demo_copy, app_factory) -> None:
    rid = high_tier_request(demo_copy)
    officer, validator = f"risk.officer@{D}", f"validator@{D}"
    assert _oracle_waiting(demo_copy, officer) == 2
    at = app_factory(demo_copy.root, persona=officer).run()
    assert not at.exception, at.exception
    assert "2 requests await your approval" in _badge(at)

    settings, catalog = load_settings(demo_copy), Catalog(demo_copy.catalog_path)
    gates = failing_gates(demo_copy, HIGH)
    acceptance = RiskAcceptance(gates, "Evidence is recomputed next week by validation.",
                                dt.datetime.now() + dt.timedelta(days=20)) if gates else None
    approve(Context(demo_copy, settings, catalog, who(demo_copy, "risk.officer")), rid, "first", risk_acceptance=acceptance)
    assert (_oracle_waiting(demo_copy, officer), _oracle_waiting(demo_copy, validator)) == (1, 2)
    at = app_factory(demo_copy.root, persona=officer).run()
    assert "1 request awaits your approval" in _badge(at)  # four eyes: not the one they approved already
    at = app_factory(demo_copy.root, persona=validator).run()
    assert "2 requests await your approval" in _badge(at)
    for persona in ("auditor", "ml.engineer"):  # no approval right, no badge
        at = app_factory(demo_copy.root, persona=f"{persona}@{D}").run()
        assert _badge(at) == ""


def test_acceptance_register_on_its_page_and_in_the_cli(demo_copy, app_factory) -> None:
    settings, catalog = load_settings(demo_copy), Catalog(demo_copy.catalog_path)
    rid = high_tier_request(demo_copy)
    gates = failing_gates(demo_copy, HIGH)
    assert gates, "the demo's v2 needs a risk acceptance for this test"
    approve(Context(demo_copy, settings, catalog, who(demo_copy, "risk.officer")), rid, "first",
            risk_acceptance=RiskAcceptance(gates, "Evidence is recomputed next week by validation.",
                                           dt.datetime.now() + dt.timedelta(days=10)))
    # oracle: the decisions table itself
    rows = catalog.query_df("SELECT d.decision_id, d.request_id, d.actor, d.expires_at FROM decisions d "
                            "WHERE d.kind = 'risk_acceptance' ORDER BY d.expires_at")
    assert len(rows) >= 2  # the demo's history holds acceptances already
    now = dt.datetime.now()

    listed = cli_json("acceptances", "--workspace", str(demo_copy.root), "--json")
    assert [a["decision_id"] for a in listed] == list(rows["decision_id"])
    by_request = {a["request_id"]: a for a in listed}
    fresh = by_request[rid]
    assert (fresh["accepted_by"], fresh["state"], sorted(fresh["gates"])) == \
        (f"risk.officer@{D}", "expiring soon", sorted(gates))
    for a in listed:
        expired = dt.datetime.fromisoformat(a["expires_at"]) <= now
        assert (a["state"] == "expired") == expired

    at = app_factory(demo_copy.root, persona=f"auditor@{D}").run()
    at.switch_page("app_pages/acceptances.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["request"]) == list(rows["request_id"])
    assert list(table["accepted by"]) == list(rows["actor"])
    assert table.loc[table["request"] == rid, "state"].item() == "expiring soon"
    assert any(rid in w.value and "Expiring soon" in w.value for w in at.warning)
    n_expired = sum(1 for a in listed if a["state"] == "expired")
    assert {m.label: m.value for m in at.metric}["Expired"] == str(n_expired)
    if n_expired:
        assert any("Expired:" in e.value for e in at.error)
