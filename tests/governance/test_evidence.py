"""Evidence: computed once per input/config hash, loaded instantly afterwards, never overwritten; planted truths."""

from __future__ import annotations

import hashlib
import time

import pandas as pd
import pytest

from core.errors import AccessDenied, InputError
from governance.analytics.evidence import (
    drift_report_html,
    latest_evidence,
    list_evidence,
    save_upload,
    store_evidence,
)
from governance.analytics.summaries import DriftSummary
from governance.catalog import Catalog
from governance.config import load_settings
from governance.evidence import review_version
from governance.identity import identity_for

RISK = "risk.officer@demo.countersign.dev"
AUDITOR = "auditor@demo.countersign.dev"


@pytest.fixture
def ws(demo_copy):
    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path)
    catalog.migrate()
    return demo_copy, settings, catalog


def _who(settings, email):
    return identity_for(settings, email, source="cli")


def test_compute_then_load_from_evidence(ws):
    workspace, settings, catalog = ws
    officer = _who(settings, RISK)
    first = review_version(workspace, settings, catalog, "lab-prod:claims-fraud:2", actor=officer)
    assert {k: i.status for k, i in first.items.items()} == {"drift": "computed", "bias": "computed",
                                                             "explain": "computed"}
    started = time.perf_counter()
    again = review_version(workspace, settings, catalog, "lab-prod:claims-fraud:2", actor=officer)
    assert time.perf_counter() - started < 2.0
    assert {i.status for i in again.items.values()} == {"cached"}
    for kind in ("drift", "bias", "explain"):
        assert again.item(kind).evidence == first.item(kind).evidence
        assert latest_evidence(catalog, "lab-prod:claims-fraud:2", kind) == first.item(kind).evidence
    ev = first.item("drift").evidence
    assert ev.computed_by == RISK and ev.software["duckdb"] and len(ev.input_hash) == 64
    # the engine and the hash of the statements it ran are recorded (the statements themselves in the result)
    for kind in ("drift", "bias"):
        stored = first.item(kind).evidence
        ran = stored.inputs["engine"]
        assert ran["name"] == "duckdb" and ran["rows_returned"] > 0 and ran["bytes_returned"] > 0
        statements = stored.result["engine"]["statements"]
        assert len(statements) == ran["queries"]
        assert ran["query_hash"] == hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()


def test_planted_truths_of_the_demo(ws):
    workspace, settings, catalog = ws
    officer = _who(settings, RISK)
    fraud = review_version(workspace, settings, catalog, "lab-prod:claims-fraud:2", actor=officer, kinds=("drift",))
    assert sorted(fraud.drift.drifted_columns) == ["claim_amount", "vehicle_age"]
    assert set(fraud.item("drift").evidence.summary.to_json()) == {
        "drift_share", "dataset_drifted", "drifted_columns", "n_columns", "threshold",
        # the importance-weighted drift (issue 32): its figure, where the weights come from, the heaviest drifted
        "weighted_drift", "weights_source", "weights_ref", "heaviest", "problems"}
    credit = review_version(workspace, settings, catalog, "lab-staging:credit-approval:3", actor=officer,
                            kinds=("bias", "explain"))
    summary = credit.item("bias").evidence.summary
    assert summary.attributes["gender"].four_fifths_pass is False
    assert summary.min_disparate_impact < 0.8
    assert set(summary.to_json()["attributes"]["gender"]) == {"demographic_parity_ratio", "demographic_parity_difference",
                                                    "equalized_odds_difference", "four_fifths_pass"}
    explain = credit.item("explain").evidence.summary
    assert explain.top_features[0][0] == "gender_female"
    assert explain.additivity_max_error < 1e-6 and explain.explainer == "TreeExplainer"
    older = review_version(workspace, settings, catalog, "lab-staging:credit-approval:2", actor=officer,
                           kinds=("bias",))
    assert older.bias.attribute("gender").four_fifths_pass is True
    repair = review_version(workspace, settings, catalog, "lab-prod:repair-cost:2", actor=officer, kinds=("bias",))
    assert repair.item("bias").status == "not_applicable"


def test_view_only_roles_load_but_never_compute(ws):
    workspace, settings, catalog = ws
    auditor = _who(settings, AUDITOR)
    denied = review_version(workspace, settings, catalog, "lab-prod:claims-fraud:2", actor=auditor, kinds=("drift",))
    assert denied.item("drift").status == "denied" and isinstance(denied.item("drift").error, AccessDenied)
    assert list_evidence(catalog, "lab-prod:claims-fraud:2") == []
    review_version(workspace, settings, catalog, "lab-prod:claims-fraud:2", actor=_who(settings, RISK),
                   kinds=("drift",))
    loaded = review_version(workspace, settings, catalog, "lab-prod:claims-fraud:2", actor=auditor, kinds=("drift",))
    assert loaded.item("drift").status == "cached"
    with pytest.raises(AccessDenied):
        review_version(workspace, settings, catalog, "lab-prod:claims-fraud:2", actor=_who(settings, "nobody@x.y"))


def test_uploaded_current_data_adds_evidence_and_loses_nothing(ws, tmp_path):
    workspace, settings, catalog = ws
    officer = _who(settings, RISK)
    vid = "lab-prod:claims-fraud:2"
    base = review_version(workspace, settings, catalog, vid, actor=officer, kinds=("drift",))
    reference = pd.read_parquet(_path(workspace, settings, catalog, vid, "reference"))
    upload = save_upload(workspace, "current.csv", reference.sample(1500, random_state=1).to_csv(index=False).encode())
    mine = review_version(workspace, settings, catalog, vid, actor=officer, kinds=("drift",), current_path=upload)
    assert mine.item("drift").status == "computed"
    assert mine.drift.drifted_columns == []  # a sample of the reference itself does not drift
    assert mine.item("drift").evidence.input_hash != base.item("drift").evidence.input_hash
    ids = {e.evidence_id for e in list_evidence(catalog, vid)}
    assert base.item("drift").evidence.evidence_id in ids and mine.item("drift").evidence.evidence_id in ids
    with pytest.raises(InputError, match="empty"):
        save_upload(workspace, "x.csv", b"")
    with pytest.raises(InputError, match="unsupported"):
        save_upload(workspace, "x.xlsx", b"abc")


def _path(workspace, settings, catalog, vid, key):
    from governance.sources import version_file

    return version_file(workspace, settings, catalog.version(vid), key)


def test_stored_evidence_is_never_overwritten(ws):
    _, settings, catalog = ws
    officer = _who(settings, RISK)
    first = store_evidence(catalog, kind="drift", version_id="v", input_hash="a" * 64, config_hash="b" * 64,
                           result={"x": 1}, summary=DriftSummary(drift_share=0.1), inputs={}, actor=officer)
    second = store_evidence(catalog, kind="drift", version_id="v", input_hash="a" * 64, config_hash="b" * 64,
                            result={"x": 2}, summary=DriftSummary(drift_share=0.9), inputs={}, actor=officer)
    assert second == first and second.result == {"x": 1}
    with pytest.raises(AccessDenied):
        store_evidence(catalog, kind="drift", version_id="v", input_hash="c" * 64, config_hash="b" * 64,
                       result={}, summary=DriftSummary(), inputs={}, actor=_who(settings, AUDITOR))


def test_missing_current_data_is_reported_not_raised(ws):
    workspace, settings, catalog = ws
    result = review_version(workspace, settings, catalog, "lab-dev:claims-fraud:1", actor=_who(settings, RISK))
    assert result.item("drift").status == "missing" and "current" in result.item("drift").message
    assert result.item("bias").status == "computed"
    with pytest.raises(InputError, match="unknown evidence kind"):
        review_version(workspace, settings, catalog, "lab-dev:claims-fraud:1", actor=_who(settings, RISK),
                       kinds=("magic",))


def test_evidently_report_for_a_drift_evidence(ws):
    workspace, settings, catalog = ws
    result = review_version(workspace, settings, catalog, "lab-prod:claims-fraud:2", actor=_who(settings, RISK),
                            kinds=("drift",))
    path = drift_report_html(workspace, result.item("drift").evidence, max_rows=500)
    html = path.read_text(encoding="utf-8")
    assert "claim_amount" in html and len(html) > 10_000
    assert drift_report_html(workspace, result.item("drift").evidence) == path  # cached by evidence id


def test_evidence_on_an_uploaded_file_never_decides_a_gate_or_a_report(ws):
    from governance.analytics.evidence import from_upload
    from governance.policy import catalog_evidence

    workspace, settings, catalog = ws
    officer = _who(settings, RISK)
    vid = "lab-prod:claims-fraud:2"  # its registered monitoring data drifts (docs/demo.md)
    registered = review_version(workspace, settings, catalog, vid, actor=officer, kinds=("drift",))
    assert registered.drift.drifted_columns
    # a hand-picked "current" file that looks just like the reference: no drift at all
    reference = pd.read_parquet(_path(workspace, settings, catalog, vid, "reference"))
    upload = save_upload(workspace, "calm.csv", reference.sample(1500, random_state=2).to_csv(index=False).encode())
    calm = review_version(workspace, settings, catalog, vid, actor=officer, kinds=("drift",), current_path=upload)
    assert calm.drift.drifted_columns == [] and from_upload(calm.item("drift").evidence)
    assert not from_upload(registered.item("drift").evidence)
    newest_any = latest_evidence(catalog, vid, "drift", include_uploads=True)
    assert newest_any.evidence_id == calm.item("drift").evidence.evidence_id  # the newest row is the upload's…
    assert latest_evidence(catalog, vid, "drift").evidence_id == registered.item("drift").evidence.evidence_id
    gate_sees = catalog_evidence(catalog)(vid, "drift")  # …but the drift gate still sees the registered data
    assert gate_sees.evidence_id == registered.item("drift").evidence.evidence_id
