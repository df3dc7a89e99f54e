"""The sign-off service the Requests page and the CLI share: one rule for blocking gates, one ``decide``."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.errors import AccessDenied, ConflictError, InputError
from governance.binding import FLAG_NO_SIGNOFF, FLAG_UNAPPROVED, flag_deployments
from governance.context import Context
from governance.promotion import RiskAcceptance, approve
from governance.signoff import decide, review_request
from governance.sources import connector_of
from tests.governance.test_promotion import BLOCKED, Faulty, World


@pytest.fixture
def world(demo_copy) -> World:
    return World(demo_copy)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def test_decide_reports_pending_n_of_m_then_executes_the_completing_approval(world: World) -> None:
    rid = world.request("lab-staging:credit-approval:2")  # high tier: two approvers
    first = decide(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "approve", "ok",
                   risk_acceptance=world.accept_all(rid))
    assert (first.outcome, first.approvals, first.approvals_required, first.executed_now) == ("pending", 1, 2, False)
    assert first.message == f"{rid} is pending."
    second = decide(Context(world.ws, world.settings, world.catalog, world.who("validator")), rid, "approve", "second pair")
    assert (second.outcome, second.executed_now, second.failed) == ("executed", True, False)
    assert world.catalog.version(second.request.target_version_id).source_version_id == \
        "lab-staging:credit-approval:2"
    assert world.verify().ok


def test_one_context_decides_as_its_identity_and_another_identity_is_a_second_pair_of_eyes(world: World) -> None:
    rid = world.request("lab-staging:credit-approval:2")  # high tier: two approvers
    officer = Context(world.ws, world.settings, world.catalog, world.who("risk.officer"))
    assert "approve" in review_request(officer, rid).actions
    first = decide(officer, rid, "approve", "ok", risk_acceptance=world.accept_all(rid))
    assert (first.outcome, first.request.approvers) == ("pending", (officer.identity.email,))
    with pytest.raises(AccessDenied, match="already approved"):  # four eyes: the same identity cannot approve twice
        decide(officer, rid, "approve", "again")
    second = decide(officer.acting_as(world.who("validator")), rid, "approve", "second pair")
    assert (second.outcome, second.executed_now) == ("executed", True)
    assert world.verify().ok


def test_decide_can_leave_execution_for_later(world: World) -> None:
    rid = world.request()
    done = decide(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "approve", "ok",
                  execute_after_approval=False)
    assert (done.outcome, done.executed_now) == ("approved", False)


def test_a_failed_execution_is_an_outcome_not_an_error(world: World) -> None:
    rid = world.request()
    world.approve(rid)

    def factory(name: str):
        return Faulty(connector_of(world.ws, world.settings.account(name)), "before_set_approval", "error", [])

    done = decide(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "execute",
                  connectors=factory)
    assert done.outcome == "failed" and done.failed
    assert done.message.startswith(f"{rid} is failed: source_approved: ") and "injected" in done.message


def test_decide_rejects_and_cancels_and_refuses_nonsense(world: World) -> None:
    rid = world.request()
    with pytest.raises(InputError, match="only with an approval"):
        decide(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "reject", "no",
               risk_acceptance=RiskAcceptance(("drift",), "accepted for this test only", _now()))
    with pytest.raises(InputError, match="unknown action"):
        decide(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "delete")  # type: ignore
    assert decide(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "reject",
                  "no").outcome == "rejected"
    rid2 = world.request()
    assert decide(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer")), rid2, "cancel").outcome == \
        "cancelled"


def test_an_expired_risk_acceptance_blocks_on_the_page_exactly_as_in_approval(world: World) -> None:
    rid = world.request("lab-dev:credit-approval:3", "staging")  # high tier, no evidence: gates block
    officer = world.who("risk.officer")
    blocked = review_request(Context(world.ws, world.settings, world.catalog, officer), rid).blocking_gates
    assert blocked, "the version has no evidence, so gates block"
    accepted = RiskAcceptance(blocked, "Accepted while the evidence is computed.", _now() + dt.timedelta(days=30))
    assert approve(Context(world.ws, world.settings, world.catalog, officer), rid, "ok",
                   risk_acceptance=accepted).status == "pending"  # one of two approvals
    second = world.who("validator")
    assert review_request(Context(world.ws, world.settings, world.catalog, second), rid).blocking_gates == ()
    later = _now() + dt.timedelta(days=60)
    page = review_request(Context(world.ws, world.settings, world.catalog, second), rid, now=later)
    assert page.blocking_gates == blocked  # the acceptance lapsed: it covers nothing any more
    assert all(page.expired(d) for d in page.request.risk_acceptances)
    with pytest.raises(ConflictError, match="gates block approval"):
        approve(Context(world.ws, world.settings, world.catalog, second), rid, "ok", now=later)


def test_blocked_demo_version_needs_acceptance_in_review_and_in_approval(world: World) -> None:
    rid = world.request(*BLOCKED)
    review = review_request(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid)
    assert set(review.blocking_gates) == {"drift", "weighted_drift", "fairness"}
    assert {"approve", "accept_risk", "reject"} <= review.actions
    assert set(review.checklist.evidence_lacking()) == {"drift", "bias"}


def test_deployment_flags_are_the_same_for_the_page_and_the_cli(demo_copy, capsys) -> None:
    from countersign_cli.main import main
    from governance.sync import sync

    w = World(demo_copy)
    # someone approves repair-cost v2 directly in the registry, bypassing Countersign
    meta_path = demo_copy.root / "registry" / "prod" / "repair-cost" / "2" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["approval_status"] = "Approved"
    meta_path.write_text(json.dumps(meta))
    sync(Context(demo_copy, w.settings, w.catalog, w.who("ml.engineer")))
    flags = flag_deployments(w.settings, w.catalog, w.catalog.inventory()).set_index("version_id")
    assert flags.loc["lab-prod:repair-cost:2", "flag"] == FLAG_NO_SIGNOFF
    assert flags.loc["lab-prod:claims-fraud:2", "flag"] == ""  # promoted through Countersign
    assert FLAG_UNAPPROVED not in set(flags["flag"])
    assert main(["models", "--workspace", str(demo_copy.root), "--json"]) == 0
    rows = {v["version_id"]: v for v in json.loads(capsys.readouterr().out)["versions"]}
    assert rows["lab-prod:repair-cost:2"]["flag"] == "no Countersign sign-off"
    assert main(["models", "--workspace", str(demo_copy.root)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("lab-prod:repair-cost:2 "))
    assert line.endswith("NO COUNTERSIGN SIGN-OFF")


def test_opening_a_workspace_registers_its_accounts(demo_copy) -> None:
    from countersign_cli.main import main

    w = World(demo_copy)
    with w.catalog.transaction() as con:
        con.execute("DELETE FROM accounts")
    assert main(["requests", "--workspace", str(demo_copy.root)]) == 0
    names = set(w.catalog.query_df("SELECT name FROM accounts")["name"])
    assert names == {a.name for a in w.settings.accounts}
