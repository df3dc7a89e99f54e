"""Issue 12's sign-off rules on copies of the demo workspace: promotion paths, decisions frozen as seen, one
inheritance rule for promoted copies, critical-feature drift and risk-acceptance follow-ups."""

from __future__ import annotations

import datetime as dt
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from core.errors import ConfigError, ConflictError, InputError
from governance.analytics.evidence import evidence_through_lineage, store_evidence
from governance.analytics.summaries import DriftSummary
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.demo_history import open_request_id
from governance.evidence import review_version
from governance.policy import EvidenceRef, evaluate
from governance.promotion import RiskAcceptance, approve, create_request, follow_ups, get_request, reject
from governance.reports.export import build_unsigned
from governance.reports.facts import collect_facts
from governance.signoff import review_request
from tests.governance.report_world import pdf_text
from tests.governance.test_promotion import World

D = "demo.countersign.dev"
DEV = "lab-dev:claims-fraud:4"  # medium tier, no evidence computed


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _configure(ws: Workspace, old: str, new: str) -> None:
    """Edit the workspace's countersign.toml (a tier or model setting), as an administrator would."""
    path = ws.config_path
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


MEDIUM = "[policy.tiers.medium]\napprovals_required = 1\n"


@pytest.fixture
def world(demo_copy: Workspace) -> World:
    return World(demo_copy)


def _reload(world: World) -> World:
    return World(world.ws)


def _cli(*argv: str) -> str:
    from countersign_cli.main import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    assert code == 0, out.getvalue()
    return out.getvalue()


# -- (a) promotion paths ------------------------------------------------------------------------------------------


def test_dev_to_prod_without_allow_skip_is_refused_naming_the_rule(world: World) -> None:
    with pytest.raises(InputError, match=r"dev → prod skips staging.*allow_skip = \[\"dev->prod\"\]"):
        create_request(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer")), DEV, "prod", "straight")
    assert world.catalog.query_df(f"SELECT count(*) AS n FROM promotion_requests WHERE version_id = '{DEV}'")["n"][0] == 0


def test_allow_skip_needs_the_tiers_approvals_plus_one_shown_everywhere(world: World) -> None:
    _configure(world.ws, MEDIUM, MEDIUM + 'allow_skip = ["dev->prod"]\n')
    world = _reload(world)
    r = create_request(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer")), DEV, "prod", "hotfix")
    assert (r.skip, r.tier_approvals_required, r.approvals_required) == ("dev->prod", 1, 2)
    # one approval of a medium-tier request would complete it; a skip needs a second risk officer
    r = approve(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), r.request_id, "ok",
                risk_acceptance=world.accept_all(r.request_id))
    assert r.status == "pending" and len(r.approvers) == 1
    queue = _cli("requests", "--workspace", str(world.ws.root))
    assert f"{r.request_id}" in queue and "1/2" in queue and "skips dev->prod" in queue
    shown = _cli("requests", r.request_id, "--workspace", str(world.ws.root))
    assert "skips environments: dev → prod skips staging" in shown and "+1 for the skip" in shown
    row = world.catalog.request_queue().set_index("request_id").loc[r.request_id]
    assert row["skip"] == "dev->prod" and row["approvals_required"] == 2


def test_one_open_request_per_version_whatever_the_target(world: World) -> None:
    _configure(world.ws, MEDIUM, MEDIUM + 'allow_skip = ["dev->prod"]\n')
    world = _reload(world)
    eng = world.who("ml.engineer")
    first = create_request(Context(world.ws, world.settings, world.catalog, eng), DEV, "staging", "soak first")
    with pytest.raises(ConflictError, match=rf"already has an open request: {first.request_id} to staging"):
        create_request(Context(world.ws, world.settings, world.catalog, eng), DEV, "prod", "and prod too")
    # once the first is closed, the version may be requested again
    reject(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), first.request_id, "not yet")
    again = create_request(Context(world.ws, world.settings, world.catalog, eng), DEV, "prod", "now prod")
    assert again.status == "pending" and again.to_env == "prod"


@pytest.mark.parametrize("skip", ["staging->prod", "prod->dev", "dev->qa", "dev-prod"])
def test_allow_skip_must_name_a_real_skip(world: World, skip: str) -> None:
    _configure(world.ws, MEDIUM, MEDIUM + f'allow_skip = ["{skip}"]\n')
    with pytest.raises(ConfigError, match="allow_skip"):
        load_settings(world.ws)


# -- (b) decisions frozen as seen ---------------------------------------------------------------------------------


def _drift(world: World, version_id: str, share: float, drifted: tuple[str, ...], n: int = 10) -> str:
    """Store new drift evidence for a version (another data scientist's later run) and return its id."""
    ev = store_evidence(world.catalog, kind="drift", version_id=version_id, input_hash=f"later-{share}-{drifted}",
                        config_hash="test", result={},
                        summary=DriftSummary(drift_share=share, dataset_drifted=share >= 0.5,
                                             drifted_columns=drifted, n_columns=n, threshold=0.5),
                        inputs={}, actor=world.who("data.scientist"))
    return ev.evidence_id


def test_an_approval_keeps_what_the_approver_saw_and_labels_what_changed(world: World) -> None:
    rid = world.request()  # the demo's open claims-fraud v3 → prod: every gate passes
    before = review_request(Context(world.ws, world.settings, world.catalog, world.who("auditor")), rid)
    assert before.snapshot is None and before.checklist.passed
    seen = {e.evidence_id for e in before.checklist.evidence}
    approve(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "reviewed")

    stored = world.catalog.decisions_of(rid, ["approve"])[0].payload["snapshot"]
    assert {e["evidence_id"] for e in stored["evidence"]} == seen
    assert stored["policy_version"].startswith("pv-") and {g["status"] for g in stored["gates"]} == {"pass"}

    new_id = _drift(world, "lab-staging:claims-fraud:3", 0.9, ("claim_amount", "channel"))
    after = review_request(Context(world.ws, world.settings, world.catalog, world.who("auditor")), rid)
    assert after.snapshot is not None and set(after.snapshot.evidence_ids) == seen
    assert {e.evidence_id for e in after.snapshot_evidence} == seen  # the summaries it saw, read back by id
    assert after.snapshot.gate("drift").status == "pass"  # as decided
    assert after.checklist.results[[r.gate for r in after.checklist.results].index("drift")].status == "fail"
    lines = after.changes.lines()
    assert any(new_id in line for line in lines) and any(x.startswith("gate drift: pass then, fail now") for x in lines)

    shown = _cli("requests", rid, "--workspace", str(world.ws.root))
    decided, changed = shown.split("changed since the decision:")
    assert "gate drift: pass" in decided and new_id not in decided
    assert new_id in changed and "pass then, fail now" in changed
    doc = json.loads(_cli("requests", rid, "--json", "--workspace", str(world.ws.root)))
    assert {e["evidence_id"] for e in doc["snapshot"]["evidence"]} == seen
    assert any(new_id in line for line in doc["changes_since_decision"])


def test_a_rejection_keeps_its_snapshot_too(world: World) -> None:
    rid = world.request()
    reject(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "not convinced")
    decision = world.catalog.decisions_of(rid, ["reject"])[0]
    assert decision.payload["snapshot"]["gates"] and decision.payload["snapshot"]["policy_version"].startswith("pv-")
    assert review_request(Context(world.ws, world.settings, world.catalog, world.who("auditor")), rid).snapshot.kind == "reject"


def test_the_pdf_shows_the_snapshot_and_the_changes_apart(world: World) -> None:
    rid = world.request()
    approve(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "reviewed")
    new_id = _drift(world, "lab-staging:claims-fraud:3", 0.9, ("claim_amount",))
    facts = collect_facts(world.ws, world.settings, world.catalog, "lab-staging:claims-fraud:3", world.who("auditor"))
    view = next(v for v in facts.decided if v.request_id == rid)
    assert new_id not in view.snapshot.evidence_ids
    assert any(new_id in c for c in view.changes) and any("pass then, fail now" in c for c in view.changes)
    text = pdf_text(build_unsigned(world.ws, world.settings, world.catalog, world.who("auditor"),
                                   "lab-staging:claims-fraud:3").pdf)
    # the decision's block: its snapshot (without the new evidence), then the changes, labelled apart
    block = text[text.index(f"As decided: what risk.officer@{D} saw"):]
    decided, changed = block.split("Changed since the decision (as of this report):", 1)
    assert "drift PASS" in decided and new_id not in decided
    assert new_id in changed[:400] and "pass then, fail now" in changed[:400]


# -- one inheritance rule: Review, Requests and the PDF agree --------------------------------------------------------


def test_review_requests_and_pdf_agree_on_a_promoted_copys_inherited_evidence(world: World) -> None:
    copy = "lab-prod:claims-fraud:1"  # promoted unchanged from lab-staging:claims-fraud:1, whose bias was computed
    rule = evidence_through_lineage(world.catalog, copy, "bias")
    assert rule is not None and rule.version_id == "lab-staging:claims-fraud:1"

    review = review_version(world.ws, world.settings, world.catalog, copy, actor=world.who("auditor"),
                            kinds=("bias",), compute=False).item("bias")
    assert review.status == "inherited" and review.evidence.evidence_id == rule.evidence_id
    assert "lab-staging:claims-fraud:1" in review.message

    gates = evaluate(world.catalog, world.settings, copy, "prod")  # what the Requests page's checklist reads
    assert [e.evidence_id for r in gates.results if r.gate == "fairness" for e in r.evidence] == [rule.evidence_id]

    facts = collect_facts(world.ws, world.settings, world.catalog, copy, world.who("auditor"))
    assert facts.evidence["bias"].evidence_id == rule.evidence_id
    assert facts.evidence["bias"].version_id == "lab-staging:claims-fraud:1"
    assert "drift" not in facts.evidence or facts.evidence["drift"].version_id == copy  # drift is never inherited


# -- (c) drift that a reviewer cannot miss ------------------------------------------------------------------------


def _drift_gate(world: World, drifted: tuple[str, ...], share: float) -> object:
    ref = EvidenceRef("ev-test", "drift", _now(), DriftSummary(drift_share=share, drifted_columns=drifted, n_columns=10))
    checklist = evaluate(world.catalog, world.settings, "lab-staging:claims-fraud:3", "prod",
                         evidence=lambda v, kind: ref if kind == "drift" else None)
    return next(r for r in checklist.results if r.gate == "drift")


def test_a_critical_feature_drifting_fails_the_gate_under_the_share_limit(world: World) -> None:
    assert _drift_gate(world, ("claim_amount",), 0.1).status == "pass"  # 0.1 ≤ max_drift_share 0.3
    _configure(world.ws, MEDIUM, MEDIUM + 'critical_features = ["claim_amount"]\n')
    world = _reload(world)
    gate = _drift_gate(world, ("claim_amount",), 0.1)
    assert gate.status == "fail"
    assert gate.message.startswith("critical feature drifted: claim_amount")
    assert gate.observed["drifted_columns"] == ["claim_amount"]
    other = _drift_gate(world, ("channel",), 0.1)
    assert other.status == "pass" and "critical features stable: claim_amount" in other.message


def test_a_models_own_critical_features_count_too(world: World) -> None:
    _configure(world.ws, "[models.claims-fraud]\n", '[models.claims-fraud]\ncritical_features = ["channel"]\n')
    world = _reload(world)
    gate = _drift_gate(world, ("channel", "region"), 0.2)
    assert gate.status == "fail" and "channel" in gate.message.split(";")[0]
    assert "(drifted: channel, region)" in gate.message


def test_a_failing_drift_gate_names_the_drifted_columns(world: World) -> None:
    gate = _drift_gate(world, ("claim_amount", "region", "channel", "age"), 0.4)
    assert gate.status == "fail" and gate.message.startswith("4 columns drifted")
    assert "claim_amount, region, channel, age" in gate.message


def test_a_risk_acceptance_follow_up_turns_overdue_without_newer_evidence(world: World) -> None:
    # no evidence: drift, weighted drift (the demo tiers set max_weighted_drift) and fairness block
    rid = world.request("lab-dev:claims-fraud:4", "staging")
    now = _now()
    acc = RiskAcceptance(("drift", "weighted_drift", "fairness"),
                         "No traffic before deployment; drift reviewed after 30 days.",
                         now + dt.timedelta(days=90), follow_up=now + dt.timedelta(days=30))
    approve(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "accepted", risk_acceptance=acc)
    request = get_request(world.catalog, rid)
    assert {(f.gate, f.kind, f.status) for f in follow_ups(world.catalog, request, now)} == {
        ("drift", "drift", "waiting"), ("weighted_drift", "drift", "waiting"), ("fairness", "bias", "waiting")}
    later = now + dt.timedelta(days=31)
    assert {f.status for f in follow_ups(world.catalog, request, later)} == {"overdue"}
    new_id = _drift(world, "lab-dev:claims-fraud:4", 0.0, ())
    done = {f.gate: f for f in follow_ups(world.catalog, request, later)}
    assert done["drift"].status == "met" and done["drift"].evidence_id == new_id
    assert done["weighted_drift"].status == "met"
    assert done["fairness"].status == "overdue" and "OVERDUE" in done["fairness"].describe()
    shown = review_request(Context(world.ws, world.settings, world.catalog, world.who("auditor")), rid, now=later)
    assert [f.status for f in shown.follow_ups if f.gate == "fairness"] == ["overdue"]


def test_a_follow_up_after_the_expiry_is_refused(world: World) -> None:
    rid = world.request("lab-dev:claims-fraud:4", "staging")
    now = _now()
    acc = RiskAcceptance(("drift", "weighted_drift", "fairness"),
                         "No traffic before deployment; drift reviewed after 30 days.",
                         now + dt.timedelta(days=30), follow_up=now + dt.timedelta(days=60))
    with pytest.raises(InputError, match="follow-up date"):
        approve(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "x", risk_acceptance=acc)


def test_demo_history_still_builds_with_snapshots(world: World) -> None:
    rows = world.catalog.query_df("SELECT kind, payload FROM decisions WHERE kind IN ('approve', 'reject')")
    assert len(rows) >= 5 and all('"snapshot"' in p for p in rows["payload"])
    assert open_request_id(Catalog(Path(world.ws.catalog_path))) is not None


def test_cli_records_a_follow_up_and_shows_it(world: World) -> None:
    rid = world.request("lab-dev:claims-fraud:4", "staging")
    today = dt.date.today()
    _cli("approve", rid, "--workspace", str(world.ws.root), "--actor", f"risk.officer@{D}", "--comment", "ok",
         "--accept-risk", "drift", "--accept-risk", "weighted_drift", "--accept-risk", "fairness", "--no-execute",
         "--justification", "Evidence jobs run next week; shadow period clean.",
         "--expires", f"{today + dt.timedelta(days=60)}", "--follow-up", f"{today + dt.timedelta(days=14)}")
    acc = get_request(world.catalog, rid).risk_acceptances[0]
    assert acc.payload["awaits"] == {"drift": "drift", "weighted_drift": "drift", "fairness": "bias"}
    assert str(acc.payload["follow_up"]).startswith(f"{today + dt.timedelta(days=14)}")
    shown = _cli("requests", rid, "--workspace", str(world.ws.root))
    assert f"waits for new bias evidence by {today + dt.timedelta(days=14)}: waiting" in shown
