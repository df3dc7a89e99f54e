"""Fallback and kill switch register: a named fallback per model in prod, approved like a promotion, rehearsed,
and executed as an emergency (one approver, at once) with a review after the fact; on the demo's folder registry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from core.errors import AccessDenied, ArtifactMismatch, ConflictError, InputError, LedgerTampered
from countersign_cli.main import main
from governance import fallback, ledger
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import identity_for

D = "demo.countersign.dev"
MODEL, ENV = "claims-fraud", "prod"
IN_USE, EARLIER = "lab-prod:claims-fraud:2", "lab-prod:claims-fraud:1"


def ctx_as(ws: Workspace, who: str) -> Context:
    settings = load_settings(ws)
    return Context(ws, settings, Catalog(ws.catalog_path), identity_for(settings, f"{who}@{D}", source="cli"))


def registry_status(ws: Workspace, version: int) -> str:
    meta = json.loads((ws.root / "registry" / "prod" / MODEL / str(version) / "metadata.json").read_text())
    return meta["approval_status"]


def artifact_of(ws: Workspace, version: int) -> Path:
    return ws.root / "registry" / "prod" / MODEL / str(version) / "model.skops"


def approved_plan(ws: Workspace, kind: str = "version") -> fallback.FallbackPlan:
    engineer, officer = ctx_as(ws, "ml.engineer"), ctx_as(ws, "risk.officer")
    extra = {"fallback_version": EARLIER} if kind == "version" else \
        {"business_process": "Claims handlers triage every claim by hand (runbook CL-7)."}
    plan = fallback.propose(engineer, MODEL, ENV, kind, "v1 served a year without findings", **extra)
    return fallback.approve_plan(officer, plan.plan_id, "fallback checked against the runbook")


def test_a_plan_is_proposed_bound_to_the_fallbacks_bytes_and_approved_with_four_eyes(demo_copy) -> None:
    engineer, officer = ctx_as(demo_copy, "ml.engineer"), ctx_as(demo_copy, "risk.officer")
    plan = fallback.propose(engineer, MODEL, ENV, "version", "v1 is the last version validated",
                            fallback_version=EARLIER)
    assert plan.status == "proposed" and plan.protects == IN_USE and len(plan.fallback_sha256 or "") == 64
    assert plan.fallback_sha256 == engineer.catalog.version(EARLIER).artifact_sha256
    entry = ledger.entries_for(engineer.catalog, f"fallback:{plan.plan_id}")[-1]
    assert entry.action == "fallback.propose" and entry.payload["fallback_sha256"] == plan.fallback_sha256
    with pytest.raises(AccessDenied, match="may not approve fallback"):
        fallback.approve_plan(engineer, plan.plan_id, "my own plan")
    own = fallback.propose(officer, MODEL, ENV, "version", "proposed by an officer", fallback_version=EARLIER)
    with pytest.raises(AccessDenied, match="four eyes"):
        fallback.approve_plan(officer, own.plan_id, "approving my own plan")
    approved = fallback.approve_plan(officer, plan.plan_id, "fallback checked against the runbook")
    assert approved.status == "approved" and approved.approvers == (f"risk.officer@{D}",)
    register = fallback.register(officer, model=MODEL)
    (row,) = register.models
    assert row.active is not None and row.active.plan_id == plan.plan_id and row.in_use == (IN_USE,)
    assert [p.plan_id for p in row.pending] == [own.plan_id]


@pytest.mark.parametrize(("kind", "extra", "message"), [
    ("version", {}, "names the version to fall back to"),
    ("version", {"fallback_version": IN_USE}, "is the version in use"),
    ("version", {"fallback_version": "lab-prod:repair-cost:1"}, "is not a version of claims-fraud"),
    ("version", {"fallback_version": "lab-dev:claims-fraud:1"}, "is in dev, not prod"),
    ("switch_off", {"business_process": "manual"}, "business process that takes over"),
    ("retrain", {}, "unknown fallback kind"),
])
def test_bad_plans_are_refused_and_write_nothing(demo_copy, kind, extra, message) -> None:
    engineer = ctx_as(demo_copy, "ml.engineer")
    before = ledger.head(engineer.catalog)
    with pytest.raises(InputError, match=message):
        fallback.propose(engineer, MODEL, ENV, kind, "a reason for the plan", **extra)
    assert ledger.head(engineer.catalog) == before


def test_a_rehearsal_checks_the_fallbacks_bytes_and_the_target_and_is_recorded(demo_copy) -> None:
    plan = approved_plan(demo_copy)
    engineer = ctx_as(demo_copy, "ml.engineer")
    good = fallback.rehearse(engineer, plan.plan_id)
    assert good.passed and {c.name for c in good.checks} == {"fallback artifact", "target registry"}
    artifact = artifact_of(demo_copy, 1)
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    bad = fallback.rehearse(engineer, plan.plan_id)
    assert not bad.passed and "differ" in next(c for c in bad.checks if c.name == "fallback artifact").detail
    actions = [e.action for e in ledger.entries_for(engineer.catalog, f"fallback:{plan.plan_id}")]
    assert actions[-2:] == ["fallback.rehearse", "fallback.rehearse"]
    assert [r.passed for r in fallback.register(engineer, model=MODEL).models[0].rehearsals] == [True, False]
    assert registry_status(demo_copy, 2) == "Approved"  # a rehearsal writes nothing to the registry


def test_executing_the_fallback_is_an_emergency_with_a_review_due_after_the_fact(demo_copy) -> None:
    plan = approved_plan(demo_copy)
    officer, validator = ctx_as(demo_copy, "risk.officer"), ctx_as(demo_copy, "validator")
    now = dt.datetime(2026, 12, 10, 9, 0)
    done = fallback.execute(officer, MODEL, ENV, "AUC fell to 0.55 on this week's claims", now=now)
    assert done.outcome == "executed" and done.emergency and done.plan_id == plan.plan_id
    assert done.review_due == now + dt.timedelta(days=5)  # medium tier: fallback_review_days default
    assert registry_status(demo_copy, 2) == "Rejected" and registry_status(demo_copy, 1) == "Approved"
    entries = ledger.entries_for(officer.catalog, f"fallback:{plan.plan_id}")
    assert [e.action for e in entries][-2:] == ["fallback.execute", "fallback.executed"]
    assert entries[-2].payload["emergency"] is True and entries[-2].payload["approver"] == f"risk.officer@{D}"
    assert officer.catalog.version(IN_USE).approval_status == "Rejected"  # the catalog re-read the account
    assert ledger.verify(demo_copy, officer.catalog, officer.identity).ok
    row = fallback.register(officer, model=MODEL, now=now + dt.timedelta(days=6)).models[0]
    assert row.executions[0].review_status == "overdue"
    with pytest.raises(AccessDenied, match="executed it"):
        fallback.review_execution(officer, done.event_id, "I reviewed my own emergency")
    reviewed = fallback.review_execution(validator, done.event_id, "Fallback was right; v2 retrained next.")
    assert reviewed.review_status == "reviewed" and reviewed.reviewed_by == f"validator@{D}"


def test_no_approved_plan_no_execution(demo_copy) -> None:
    officer = ctx_as(demo_copy, "risk.officer")
    fallback.propose(ctx_as(demo_copy, "ml.engineer"), MODEL, ENV, "version", "not approved yet",
                     fallback_version=EARLIER)
    before = ledger.head(officer.catalog)
    with pytest.raises(ConflictError, match="no approved fallback for claims-fraud in prod"):
        fallback.execute(officer, MODEL, ENV, "drift alarm")
    assert ledger.head(officer.catalog) == before and registry_status(demo_copy, 2) == "Approved"


def test_a_fallback_whose_bytes_changed_since_approval_is_refused_and_recorded(demo_copy) -> None:
    plan = approved_plan(demo_copy)
    officer = ctx_as(demo_copy, "risk.officer")
    artifact = artifact_of(demo_copy, 1)
    artifact.write_bytes(b"a different model")
    with pytest.raises(ArtifactMismatch):
        fallback.execute(officer, MODEL, ENV, "drift alarm")
    last = ledger.entries_for(officer.catalog, f"fallback:{plan.plan_id}")[-1]
    assert last.action == "fallback.refused" and last.payload["expected_sha256"] == plan.fallback_sha256
    assert registry_status(demo_copy, 2) == "Approved"


def test_the_kill_switch_rejects_the_version_and_names_the_business_process(demo_copy) -> None:
    plan = approved_plan(demo_copy, "switch_off")
    done = fallback.execute(ctx_as(demo_copy, "risk.officer"), MODEL, ENV, "model behaves erratically")
    assert done.outcome == "executed" and registry_status(demo_copy, 2) == "Rejected"
    assert "runbook CL-7" in done.detail["business_process"] and plan.kind == "switch_off"


@pytest.mark.parametrize(("who", "call"), [
    ("data.scientist", lambda c: fallback.propose(c, MODEL, ENV, "version", "reason", fallback_version=EARLIER)),
    ("ml.engineer", lambda c: fallback.execute(c, MODEL, ENV, "reason")),
    ("auditor", lambda c: fallback.execute(c, MODEL, ENV, "reason")),
    ("auditor", lambda c: fallback.rehearse(c, "FB-x")),
])
def test_roles_are_checked_inside_governance(demo_copy, who, call) -> None:
    with pytest.raises(AccessDenied):
        call(ctx_as(demo_copy, who))


def test_a_tampered_ledger_tail_refuses_the_emergency_too(demo_copy) -> None:
    approved_plan(demo_copy)
    officer = ctx_as(demo_copy, "risk.officer")
    with officer.catalog.transaction() as con:  # an entry appended outside Countersign: no commit sealed it
        con.execute("INSERT INTO ledger SELECT seq + 1, recorded_at, actor, action, subject, payload, hash, hash "
                    "FROM ledger ORDER BY seq DESC LIMIT 1")
    with pytest.raises(LedgerTampered, match="refused the fallback of claims-fraud"):
        fallback.execute(officer, MODEL, ENV, "drift alarm")
    assert registry_status(demo_copy, 2) == "Approved"


def test_cli_fallback_plan_approve_rehearse_then_countersign_fallback_model(demo_copy, capsys) -> None:
    ws = str(demo_copy.root)

    def run(actor: str, *args: str) -> int:
        return main([*args, "--workspace", ws, "--actor", f"{actor}@{D}"])

    assert run("ml.engineer", "fallback-plan", "propose", "--model", MODEL, "--environment", ENV, "--kind",
               "version", "--version", EARLIER, "--reason", "last validated version", "--json") == 0
    plan_id = json.loads(capsys.readouterr().out)["plan_id"]
    assert run("risk.officer", "fallback-plan", "approve", plan_id, "--comment", "checked") == 0
    assert "approved" in capsys.readouterr().out
    assert run("ml.engineer", "fallback-plan", "rehearse", plan_id, "--json") == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    assert run("ml.engineer", "fallback", MODEL, "--environment", ENV, "--reason", "alarm") == 2
    assert "may not execute fallback" in capsys.readouterr().err
    assert run("risk.officer", "fallback", MODEL, "--environment", ENV, "--reason", "alarm", "--json") == 0
    executed = json.loads(capsys.readouterr().out)
    assert executed["emergency"] is True and executed["review_due"]
    assert run("auditor", "fallback-plan", "list", "--model", MODEL, "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["models"][0]["executions"][0]["event_id"] == executed["event_id"]
    assert run("validator", "fallback-plan", "review", executed["event_id"], "--comment", "right call") == 0
    assert run("risk.officer", "fallback", "no-such-model", "--reason", "alarm") == 2
    assert "no-such-model" in capsys.readouterr().err


def test_the_cli_spells_the_kinds_of_governance() -> None:
    from countersign_cli.commands import fallback as command

    assert command.KINDS == fallback.KINDS
