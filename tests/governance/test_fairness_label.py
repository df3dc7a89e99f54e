"""The fairness gate says where the four-fifths rule comes from, and a tier may set its own threshold and label."""

from __future__ import annotations

import datetime as dt

import pytest

from core.structs import replace
from governance.catalog import Catalog
from governance.config import load_settings
from governance.policy import EvidenceRef, evaluate, gate

NOW = dt.datetime(2026, 11, 1)
VERSION = "lab-staging:credit-approval:2"  # high tier, protected attributes gender and age_band


def fairness(demo_workspace, ratio: float, **tier_changes):
    settings = load_settings(demo_workspace)
    tiers = dict(settings.policy.tiers)
    tiers["high"] = replace(tiers["high"], **tier_changes)
    settings = replace(settings, policy=replace(settings.policy, tiers=tiers))
    summary = {"attributes": {"gender": {"demographic_parity_ratio": ratio},
                              "age_band": {"demographic_parity_ratio": 0.95}}}

    def lookup(version_id: str, kind: str):
        return EvidenceRef(f"ev-{kind}", kind, NOW, summary) if kind == "bias" else None

    checklist = evaluate(Catalog(demo_workspace.catalog_path), settings, VERSION, "prod", evidence=lookup, now=NOW)
    return next(r for r in checklist.results if r.gate == "fairness")


def test_the_gate_registry_states_the_origin_and_the_limits_of_the_rule() -> None:
    g = gate("fairness")
    assert "EEOC Uniform Guidelines" in g.help and "not a universal legal test" in g.help
    assert "US employment" in g.help and "fairness_label" in g.help
    assert "four-fifths" in g.label and "EEOC" in g.label


@pytest.mark.parametrize(("ratio", "changes", "status", "says", "never"), [
    (0.75, {}, "fail", "four-fifths rule of thumb (US EEOC Uniform Guidelines)", None),
    (0.85, {}, "pass", "four-fifths rule of thumb (US EEOC Uniform Guidelines)", None),
    (0.85, {"min_disparate_impact": 0.9}, "fail", "below 0.9 (the tier's own threshold)", "four-fifths"),
    (0.85, {"min_disparate_impact": 0.9, "fairness_label": "Credit Policy 7.2 threshold"}, "fail",
     "below 0.9 (Credit Policy 7.2 threshold)", "four-fifths"),
    (0.75, {"min_disparate_impact": 0.7}, "pass", "≥ 0.7 (the tier's own threshold)", "four-fifths"),
])
def test_threshold_and_label_are_set_per_tier(demo_workspace, ratio, changes, status, says, never) -> None:
    result = fairness(demo_workspace, ratio, **changes)
    assert result.status == status
    assert says in result.message
    if never:
        assert never not in result.message


def test_the_label_is_validated_in_countersign_toml(tmp_path) -> None:
    from core.errors import ConfigError
    from governance.config import parse_settings

    with pytest.raises(ConfigError, match="fairness_label"):
        parse_settings({"policy": {"tiers": {"medium": {"fairness_label": ""}}}})
    tier = parse_settings({"policy": {"tiers": {"medium": {"fairness_label": "HMDA review", "review_every_days": 180,
                                                           "monitoring_every_days": 30}}}}).tier("medium")
    assert (tier.fairness_label, tier.review_every_days, tier.monitoring_every_days) == ("HMDA review", 180, 30)
    with pytest.raises(ConfigError, match="review_every_days"):
        parse_settings({"policy": {"tiers": {"medium": {"review_every_days": 0}}}})
