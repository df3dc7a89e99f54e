"""Issue 35: "Why is this blocked?" — one sentence per failing gate with its figure and what clears it, for the CLI
(`countersign why`) and the pages alike; and the one formatter every figure and identifier is printed through."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.wording import cell, number, share, when, words
from countersign_cli.main import main
from governance.catalog import Catalog
from governance.config import load_settings
from governance.context import Context
from governance.identity import identity_for
from governance.policy import evaluate
from governance.usecases.why import why_blocked

D = "demo.countersign.dev"
STAGING_CREDIT = "lab-staging:credit-approval:3"  # the demo's gender gap: fails the four-fifths rule
REPAIR = "lab-prod:repair-cost:2"  # serving in prod, never approved


def _ctx(ws, who: str = f"data.scientist@{D}") -> Context:
    settings = load_settings(ws)
    return Context(ws, settings, Catalog(ws.catalog_path), identity_for(settings, who, source="demo"))


def test_a_failing_gate_is_one_sentence_with_its_figure_and_what_clears_it(demo_copy, capsys) -> None:
    ctx = _ctx(demo_copy)
    assert main(["review", "--workspace", str(demo_copy.root), "--actor", f"risk.officer@{D}",
                 "--version", STAGING_CREDIT]) in (0, 1)
    capsys.readouterr()
    answer = why_blocked(ctx, STAGING_CREDIT)
    # oracle: the checklist a request would freeze
    failing = {r.gate for r in evaluate(ctx.catalog, ctx.settings, STAGING_CREDIT, "prod").blocking}
    assert failing and {b.kind for b in answer.blockers} == failing
    fairness = next(b for b in answer.blockers if b.kind == "fairness")
    assert "gender 0.33" in fairness.sentence and "risk acceptance" in fairness.clears
    assert answer.to_env == "prod" and answer.blocked

    assert main(["why", STAGING_CREDIT, "--workspace", str(demo_copy.root), "--actor", f"auditor@{D}"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{STAGING_CREDIT} (from staging to prod, tier high) is blocked by")
    assert any(ln.startswith("  ✗ fairness: ") and "to clear:" in ln for ln in out[1:])


def test_missing_evidence_an_open_request_and_an_unapproved_deployment_each_say_what_to_do(demo_workspace,
                                                                                        capsys) -> None:
    assert main(["why", REPAIR, "--workspace", str(demo_workspace.root), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by_kind = {b["kind"]: b for b in doc["blockers"]}
    assert by_kind["drift"]["clears"].startswith("compute it on the Review page or with 'countersign review")
    assert "never approved in Countersign" in by_kind["unapproved_deployment"]["sentence"]
    assert "PendingManualApproval" not in json.dumps(doc)  # registry states in words
    pending = Catalog(demo_workspace.catalog_path).requests_in(("pending",))
    if pending:  # the demo's open request waits for an approval
        r = pending[0]
        assert main(["why", r.version_id, "--workspace", str(demo_workspace.root), "--json"]) in (0, 1)
        doc = json.loads(capsys.readouterr().out)
        assert any(b["kind"] == "approvals" and r.request_id in b["sentence"] for b in doc["blockers"])


def test_an_unknown_version_is_bad_input(demo_workspace, capsys) -> None:
    assert main(["why", "nope:x:1", "--workspace", str(demo_workspace.root)]) == 2
    assert "unknown version 'nope:x:1'" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "text"), [
    (0.7641, "0.764"), (0.763, "0.763"), (10850.2, "10,850"), (42320.0, "42,320"), (0.000123, "0.000123"),
    (1.0, "1"), (12.3456, "12.35"), (3, "3"), (1234567, "1,234,567"), (float("nan"), "—"), (None, "—"),
    (True, "yes"), (0.0, "0"), (-0.25, "-0.25"), (0.0001, "0.0001"),
    # below 0.0001 no reader weighs the digits (an additivity error of 3.1e-15): it says so instead of 17 decimals
    (3.1086244689504383e-15, "< 0.0001"), (-2e-9, "> -0.0001"),
])
def test_numbers_read_without_scientific_notation_or_sixteen_digits(value, text) -> None:
    assert number(value) == text


def test_identifiers_instants_and_containers_read_as_words() -> None:
    assert [words(w) for w in ("PendingManualApproval", "InService", "approve", "risk_acceptance",
                               "policy_tenure_years", "dataset_drifted", "min_metrics")] == \
        ["pending approval", "in service", "approved", "risk acceptance", "policy tenure years", "dataset drifted",
         "minimum metrics"]
    assert words("lab-prod:claims-fraud:2") == "lab-prod:claims-fraud:2"  # not an identifier: kept
    aware = dt.datetime(2026, 12, 7, 17, 41, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert when(aware) == "2026-12-07 16:41 UTC" == when(dt.datetime(2026, 12, 7, 16, 41))
    assert cell({"auc": 0.75}) == "AUC 0.75" and cell(None) == "—" and cell([0.5, 2]) == "0.5, 2"
    assert share(0.2) == "20%" and share(0.1234) == "12.3%"
