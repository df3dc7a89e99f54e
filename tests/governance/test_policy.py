"""Policy gates: table-driven on evidence summaries, plus the fairness gate fed by the real bias engine on the
planted biased version, with fairlearn as the oracle for the ratio."""

from __future__ import annotations

import datetime as dt

import pytest

from governance.catalog import Catalog
from governance.config import load_settings
from governance.policy import GATES, EvidenceRef, evaluate, gates_for

NOW = dt.datetime(2026, 11, 1)


def lookup(**by_kind):
    def find(version_id: str, kind: str):
        summary = by_kind.get(kind)
        if summary is None:
            return None
        age = summary.pop("_age_days", 1) if isinstance(summary, dict) else 1
        return EvidenceRef(f"ev-{kind}", kind, NOW - dt.timedelta(days=age), summary)

    return find


def statuses(demo_workspace, version_id: str, to_env: str, **evidence) -> dict[str, str]:
    checklist = evaluate(Catalog(demo_workspace.catalog_path), load_settings(demo_workspace), version_id, to_env,
                         evidence=lookup(**evidence), now=NOW)
    return {r.gate: r.status for r in checklist.results}


GOOD_BIAS = {"attributes": {"gender": {"demographic_parity_ratio": 0.93},
                            "age_band": {"demographic_parity_ratio": 0.88}}}


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ({}, {"drift": "missing", "fairness": "missing"}),
        ({"drift": {"drift_share": 0.2}, "bias": GOOD_BIAS}, {"drift": "pass", "fairness": "pass"}),
        ({"drift": {"drift_share": 0.31}, "bias": GOOD_BIAS}, {"drift": "fail", "fairness": "pass"}),
        ({"drift": {"drift_share": 0.3}, "bias": {"attributes": {"gender": {"demographic_parity_ratio": 0.79},
                                                                 "age_band": {"demographic_parity_ratio": 0.9}}}},
         {"drift": "pass", "fairness": "fail"}),
        ({"drift": {"drift_share": 0.1}, "bias": {"attributes": {"gender": {"demographic_parity_ratio": 0.9}}}},
         {"drift": "pass", "fairness": "missing"}),  # age_band is a protected attribute the evidence lacks
        ({"drift": {"drift_share": 0.1, "_age_days": 31}, "bias": GOOD_BIAS},
         {"drift": "missing", "fairness": "pass"}),  # high tier accepts evidence up to 30 days old
    ],
)
def test_gates_table(demo_workspace, evidence, expected) -> None:
    got = statuses(demo_workspace, "lab-staging:credit-approval:2", "prod", **evidence)
    assert {k: got[k] for k in expected} == expected
    assert got["model_card"] == "pass"


def test_metrics_gate_on_the_demo_version(demo_workspace) -> None:
    # the demo registers auc 0.7598 for this version (fixed seed); the high tier asks for at least 0.75
    got = statuses(demo_workspace, "lab-staging:credit-approval:2", "prod")
    assert got["metrics"] == "pass"


@pytest.mark.parametrize(
    ("min_metrics", "max_metrics", "metrics", "status", "message"),
    [  # expected values worked out by hand from the rule "min ≤ value ≤ max, every named metric reported"
        ({"auc": 0.75}, {}, {"auc": 0.7598}, "pass", "auc 0.7598"),
        ({"auc": 0.75}, {}, {"auc": 0.75}, "pass", "auc 0.75"),  # the bound itself passes
        ({"auc": 0.75}, {}, {"auc": 0.7499}, "fail", "auc 0.7499 < 0.75"),
        ({"auc": 0.75}, {}, {"f1": 0.9}, "missing", "the version does not report auc"),
        ({"auc": 0.75}, {}, {"auc": float("nan")}, "missing", "the version does not report auc"),
        ({}, {"brier": 0.2}, {"brier": 0.21}, "fail", "brier 0.21 > 0.2"),
        ({}, {"brier": 0.2}, {"brier": 0.2}, "pass", "brier 0.2"),
        ({"auc": 0.75}, {"brier": 0.2}, {"auc": 0.7, "brier": 0.3}, "fail", "auc 0.7 < 0.75; brier 0.3 > 0.2"),
        ({"auc": 0.75, "r2": 0.5}, {}, {"auc": 0.6}, "fail", "auc 0.6 < 0.75"),  # a failure outranks a gap
    ],
)
def test_metrics_gate_table(demo_catalog, min_metrics, max_metrics, metrics, status, message) -> None:
    from dataclasses import replace

    from governance.config import ModelConfig, TierPolicy
    from governance.policy import GateContext, gate_metrics

    version = replace(demo_catalog.version("lab-staging:credit-approval:2"), metrics=metrics)
    tier = TierPolicy(min_metrics=min_metrics, max_metrics=max_metrics)
    result = gate_metrics(GateContext(version, "t", tier, ModelConfig(), None, lookup(), NOW))
    assert (result.status, result.message) == (status, message)


def test_gate_registry_and_environment_override() -> None:
    from governance.config import TierPolicy

    assert len({g.name for g in GATES}) == len(GATES) and all(g.help for g in GATES)
    tier = TierPolicy(max_drift_share=0.3, min_disparate_impact=0.8, gates={"staging": ("metrics",)})
    assert [g.name for g in gates_for(tier, "prod")] == ["drift", "fairness"]
    assert [g.name for g in gates_for(tier, "staging")] == ["metrics"]


def test_planted_bias_fails_the_fairness_gate(demo_workspace) -> None:
    import pandas as pd
    from fairlearn.metrics import demographic_parity_ratio

    from governance.analytics.bias import BiasConfig, bias_file
    from governance.sources import version_file

    settings = load_settings(demo_workspace)
    catalog = Catalog(demo_workspace.catalog_path)
    v = catalog.version("lab-staging:credit-approval:3")
    path = version_file(demo_workspace, settings, v, "validation")
    result = bias_file(path, BiasConfig(label="label", protected=("gender", "age_band"), prediction="prediction",
                                        positive_label="1"))
    frame = pd.read_parquet(path)
    oracle = demographic_parity_ratio(frame["label"], frame["prediction"], sensitive_features=frame["gender"])
    assert result.summary().attributes["gender"].demographic_parity_ratio == pytest.approx(oracle)
    got = statuses(demo_workspace, v.version_id, "prod", bias=result.summary(), drift={"drift_share": 0.0})
    assert got["fairness"] == "fail"


def test_a_promoted_copy_uses_its_source_bias_evidence_but_not_its_drift(demo_copy) -> None:
    """Same artifact, same validation data: the fairness verdict carries over a promotion; drift never does."""
    from governance.analytics.evidence import evidence_through_lineage, latest_evidence
    from governance.catalog import Catalog

    cat = Catalog(demo_copy.catalog_path)
    target = None
    # find a prod version without own bias evidence whose staging source has some
    for v in cat.inventory()[lambda d: d["environment"] == "prod"]["version_id"]:
        if latest_evidence(cat, v, "bias") is None and cat.version(v).source_version_id:
            src = cat.lineage(v)[1]
            if latest_evidence(cat, src.version_id, "bias") is not None:
                target = v
                break
    assert target is not None, "the demo history computes evidence on staging versions that reached prod"
    inherited = evidence_through_lineage(cat, target, "bias")
    assert inherited is not None and inherited.version_id != target
    assert cat.version(inherited.version_id).artifact_sha256 == cat.version(target).artifact_sha256
    if latest_evidence(cat, target, "drift") is None:
        assert evidence_through_lineage(cat, target, "drift") is None
