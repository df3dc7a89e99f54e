"""Typed evidence summaries: the stored JSON format round-trips, and rows written before the types existed still load."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.canonical import canonical_json
from governance.analytics.evidence import latest_evidence, list_evidence
from governance.analytics.summaries import (
    AttributeSummary,
    BiasSummary,
    DriftSummary,
    ExplainSummary,
    OtherSummary,
    summary_from_json,
)
from governance.catalog import Catalog
from governance.config import load_settings
from governance.policy import catalog_evidence, evaluate

# Summaries exactly as the analytics package has stored them (canonical JSON in the evidence.summary column).
DRIFT = {"drift_share": 0.4, "dataset_drifted": True, "drifted_columns": ["claim_amount", "vehicle_age"],
         "n_columns": 5, "threshold": 0.3}
BIAS = {"attributes": {"gender": {"demographic_parity_ratio": 0.71, "demographic_parity_difference": 0.12,
                                  "equalized_odds_difference": 0.09, "four_fifths_pass": False},
                       "age_band": {"demographic_parity_ratio": 0.93, "demographic_parity_difference": 0.03,
                                    "equalized_odds_difference": None, "four_fifths_pass": True}},
        "min_disparate_impact": 0.71}
EXPLAIN = {"top_features": [["gender_female", 0.41], ["claim_amount", 0.2]], "additivity_max_error": 3e-9,
           "explainer": "TreeExplainer"}


@pytest.mark.parametrize(("kind", "stored", "cls"),
                         [("drift", DRIFT, DriftSummary), ("bias", BIAS, BiasSummary), ("explain", EXPLAIN, ExplainSummary)])
def test_stored_format_round_trips(kind, stored, cls) -> None:
    text = canonical_json(stored)
    typed = summary_from_json(kind, json.loads(text))
    assert isinstance(typed, cls) and typed.kind == kind
    assert canonical_json(typed.to_json()) == text  # byte for byte what is stored
    assert cls.from_json(typed.to_json()) == typed


def test_attributes_read_from_the_stored_format() -> None:
    drift = DriftSummary.from_json(DRIFT)
    assert (drift.drift_share, drift.dataset_drifted, drift.drifted_columns) == (0.4, True, ("claim_amount", "vehicle_age"))
    assert drift.lines() == ["drift share 0.40: dataset drifted", "2 of 5 columns drifted: claim_amount, vehicle_age"]
    bias = BiasSummary.from_json(BIAS)
    assert bias.attributes["gender"] == AttributeSummary(0.71, 0.12, 0.09, False)
    assert bias.ratios == {"gender": 0.71, "age_band": 0.93}
    assert bias.lines()[0] == "gender: disparate impact 0.71, four-fifths FAIL"
    explain = ExplainSummary.from_json(EXPLAIN)
    assert explain.top_names == ["gender_female", "claim_amount"] and explain.explainer == "TreeExplainer"


def test_partial_and_unknown_summaries_load() -> None:
    assert DriftSummary.from_json({"drift_share": 0.2}) == DriftSummary(drift_share=0.2)
    assert BiasSummary.from_json({"attributes": {"gender": None}}).ratios == {"gender": None}
    other = summary_from_json("custom", {"score": 3, "detail": {"a": 1}})
    assert isinstance(other, OtherSummary) and other.to_json() == {"score": 3, "detail": {"a": 1}}
    assert other.lines() == ["score: 3"]


def test_old_evidence_rows_in_an_existing_catalog_still_load(demo_copy) -> None:
    """Rows inserted with plain SQL in today's stored format load as typed evidence and feed the gates."""
    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path)
    catalog.migrate()
    vid = "lab-staging:credit-approval:2"
    at = dt.datetime(2026, 10, 30, 9, 0)
    with catalog.transaction() as con:
        for kind, summary in (("drift", DRIFT), ("bias", BIAS), ("explain", EXPLAIN)):
            con.execute(
                "INSERT INTO evidence VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [f"ev-old-{kind}", kind, vid, "a" * 64, "b" * 64, canonical_json({"kept": kind}),
                 canonical_json(summary), canonical_json({"python": "3.11"}),
                 canonical_json({"validation": {"uri": "s3://x/val.csv", "sha256": "c" * 64}}), at, "someone@x"],
            )
    drift = latest_evidence(catalog, vid, "drift")
    assert drift is not None and drift.summary == DriftSummary.from_json(DRIFT)
    assert drift.result == {"kept": "drift"} and drift.computed_at == at
    bias = latest_evidence(catalog, vid, "bias")
    assert bias is not None and bias.summary.attributes["gender"].four_fifths_pass is False
    assert {e.evidence_id for e in list_evidence(catalog, vid)} >= {"ev-old-drift", "ev-old-bias", "ev-old-explain"}
    checklist = evaluate(catalog, settings, vid, "prod", evidence=catalog_evidence(catalog),
                         now=dt.datetime(2026, 11, 1))
    gates = {r.gate: r for r in checklist.results}
    assert gates["drift"].status == "fail" and gates["drift"].observed == 0.4  # 0.4 > the high tier's limit
    assert gates["fairness"].status == "fail" and "gender 0.71" in gates["fairness"].message
