"""Drift that matters, and monitoring breaches that start a re-validation.

The demo's planted drift on ``lab-prod:claims-fraud:2`` drifts 2 of 10 columns (the share gate passes), one of them
``claim_amount``, the model's strongest feature: weighted by the model's own attribution (shap is the oracle) it
fails the tier's ``max_weighted_drift``; ``countersign monitor`` prints the breach and exits 1; a triggered review
is due now until a periodic review answers it; owners and risk officers hear about it once; the PDF says so.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pytest

from governance import ledger
from governance.analytics.drift import DriftConfig, drift_files
from governance.analytics.evidence import drift_weights, registry_importances
from governance.analytics.explain import ExplainConfig
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.evidence import review_version
from governance.identity import identity_for
from governance.oversight import monitor, record_review, reviews, schedule
from governance.policy import evaluate
from governance.triggered import cumulative_change, triggered_reviews
from tests.governance.report_world import pdf_text

D = "demo.countersign.dev"
CLAIMS, CREDIT, REPAIR = "lab-prod:claims-fraud:2", "lab-prod:credit-approval:1", "lab-prod:repair-cost:2"
OFFICER = f"risk.officer@{D}"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "countersign_cli", *args], capture_output=True, text=True, timeout=300)


def _open(ws: Workspace):
    settings, catalog = load_settings(ws), Catalog(ws.catalog_path)
    return settings, catalog, identity_for(settings, OFFICER, source="cli")


def _built_on(catalog: Catalog) -> dt.datetime:
    return reviews(catalog, version_id=CREDIT)[0].reviewed_at + dt.timedelta(days=100)


def test_drift_is_weighted_by_the_models_mean_abs_shap(demo_copy: Workspace) -> None:
    import shap
    import skops.io as sio

    from governance.analytics.artifacts import SKOPS_ALLOWED
    from governance.sources import version_file

    settings, catalog, officer = _open(demo_copy)
    version = catalog.version(CLAIMS)
    result = review_version(demo_copy, settings, catalog, CLAIMS, actor=officer, kinds=("drift", "explain"),
                            explain_config=ExplainConfig(max_rows=10_000, budget_seconds=600))
    drift = result.drift
    assert drift is not None and drift.weights_source == "shap"
    assert drift.weights_ref == result.item("explain").evidence.evidence_id  # explain ran first, drift cites it
    # oracle: shap's own TreeExplainer on the whole validation file (the explain evidence explained every row)
    import pandas as pd

    features = version.metadata["features"].split(",")
    model = sio.load(version_file(demo_copy, settings, version, "artifact"), trusted=sorted(SKOPS_ALLOWED))
    frame = pd.read_parquet(version_file(demo_copy, settings, version, "validation"))
    values = shap.TreeExplainer(model).shap_values(frame[features].to_numpy(float))
    mean_abs = np.abs(np.asarray(values)).mean(axis=0)
    expected = dict(zip(features, mean_abs / mean_abs.sum(), strict=True))
    for f in features:
        assert drift.weights[f] == pytest.approx(expected[f], rel=1e-9), f
    assert {c for c, w in drift.weights.items() if w > 0} == set(features)  # gender, region, … weigh nothing
    assert drift.weighted_drift == pytest.approx(expected["claim_amount"] + expected["vehicle_age"], rel=1e-9)
    assert drift.drift_share == pytest.approx(0.2)
    share = round(expected["claim_amount"] * 100)
    assert drift.headline.startswith(f"claim_amount ({share} % of the model's attribution)")
    assert "vehicle_age" in drift.headline


def test_the_planted_drift_fails_the_weighted_gate_while_the_share_gate_passes(demo_copy: Workspace) -> None:
    settings, catalog, officer = _open(demo_copy)
    review_version(demo_copy, settings, catalog, CLAIMS, actor=officer, kinds=("explain", "drift"))
    results = {r.gate: r for r in evaluate(catalog, settings, CLAIMS, "prod").results}
    assert results["drift"].status == "pass"  # 2 of 10 columns: 0.2 ≤ 0.3, the share says "no problem"
    weighted = results["weighted_drift"]
    assert weighted.status == "fail" and weighted.threshold == 0.25
    assert weighted.observed["weights_source"] == "shap" and weighted.observed["weighted_drift"] > 0.25
    assert weighted.message.startswith("claim_amount (") and "of the model's attribution" in weighted.message


def test_monitor_prints_each_breach_exits_1_and_starts_a_revalidation_once(demo_copy: Workspace) -> None:
    root = str(demo_copy.root)
    proc = cli("monitor", "--workspace", root, "--actor", OFFICER)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    breach = next(line for line in proc.stdout.splitlines() if "BREACH" in line and "weighted_drift" in line)
    assert CLAIMS in breach and "claim_amount" in breach and "limit 0.25" in breach
    assert "re-validation due now" in proc.stdout
    assert not [line for line in proc.stdout.splitlines() if "BREACH" in line and CLAIMS not in line]

    settings, catalog, officer = _open(demo_copy)
    found = triggered_reviews(catalog, version_id=CLAIMS)
    assert {t.gate for t in found} == {"weighted_drift"} and found[0].kind == "gate_breach"
    assert found[0].columns == ("claim_amount", "vehicle_age") and found[0].figure > 0.25
    entries = ledger.listing(catalog, ledger.LedgerFilter(actions=("review.triggered",)))
    assert list(entries["subject"]) == [f"version:{CLAIMS}"]

    # due now, apart from the calendar (its calendar review is merely "due" in 5 days)
    due = cli("due", "--workspace", root, "--json")
    item = next(i for i in json.loads(due.stdout)["items"] if i["version_id"] == CLAIMS)
    assert item["status"] == "due" and [t["gate"] for t in item["triggered"]] == ["weighted_drift"]
    assert "triggered" in cli("due", "--workspace", root).stdout.split("\n")[0]

    # the same evidence is the same breach: monitoring again starts nothing new (and still exits 1)
    again = cli("monitor", "--workspace", root, "--actor", OFFICER, "--all", "--json")
    assert again.returncode == 1
    assert len(triggered_reviews(catalog, version_id=CLAIMS)) == 1
    monitoring = json.loads(again.stdout)["monitoring"]  # beside the binding check's "unapproved"
    assert [t["trigger_id"] for t in next(r for r in monitoring if r["version_id"] == CLAIMS)
            ["triggered"]] == [found[0].trigger_id]

    # the re-validation: a periodic review answers the trigger, and cites it in the ledger
    review = record_review(Context(demo_copy, settings, catalog, officer), CLAIMS, "restrict",
                           "Re-validated after the weighted drift breach: retrain on 2026 claims.", refresh=False)
    plan = {i.version_id: i for i in schedule(Context(catalog.workspace, settings, catalog, officer)).items}
    assert plan[CLAIMS].triggered == ()
    payload = ledger.listing(catalog, ledger.LedgerFilter(actions=("review.periodic",))).iloc[0]["payload"]  # newest first
    assert found[0].trigger_id in payload and review.review_id in payload


def test_the_breach_is_announced_once_to_owners_and_risk_officers(demo_copy: Workspace) -> None:
    from governance.notify import notify

    settings, catalog, officer = _open(demo_copy)
    today = _built_on(catalog)
    monitor(Context(demo_copy, settings, catalog, officer), now=today)
    admin = identity_for(settings, f"admin@{D}", source="cli")
    first = notify(Context(catalog.workspace, settings, catalog, admin), now=today, dry_run=True)
    events = [e for e in first.events if e.kind == "gate_breach"]
    assert [e.subject for e in events] == [f"version:{CLAIMS}"]
    assert "re-validation due now" in events[0].title and "claim_amount" in events[0].text


def test_cumulative_change_since_the_last_full_validation(demo_copy: Workspace) -> None:
    settings, catalog, officer = _open(demo_copy)
    # repair-cost v2 came to prod after v1 (never reviewed there), trained on other data
    change = cumulative_change(Context(demo_copy, settings, catalog, officer), REPAIR)
    assert change.validated_version == "lab-prod:repair-cost:1" and change.versions_promoted == (REPAIR,)
    assert change.data_window_moved is True and change.features_added == change.features_removed == ()
    assert change.total == 2
    # claims-fraud v2 was reviewed itself: nothing changed since
    assert cumulative_change(Context(demo_copy, settings, catalog, officer), CLAIMS).total == 0
    # claims-fraud v3 in staging (never reviewed there): v2 and v3 came after v1, v3 adds channel_online, new data
    staging = cumulative_change(Context(demo_copy, settings, catalog, officer), "lab-staging:claims-fraud:3")
    assert staging.validated_version == "lab-staging:claims-fraud:1"
    assert staging.versions_promoted == ("lab-staging:claims-fraud:2", "lab-staging:claims-fraud:3")
    assert staging.features_added == ("channel_online",) and staging.features_removed == ()
    assert staging.data_window_moved is True and staging.total == 4

    text = demo_copy.config_path.read_text()
    head, low = text.split("[policy.tiers.low]", 1)
    demo_copy.config_path.write_text(head + "[policy.tiers.low]" + low.replace("max_cumulative_change = 3",
                                                                               "max_cumulative_change = 1", 1))
    settings = load_settings(demo_copy)
    results = {r.version_id: r for r in monitor(Context(demo_copy, settings, catalog, officer), now=_built_on(catalog))}
    got = [t for t in results[REPAIR].triggered if t.kind == "cumulative_change"]
    assert len(got) == 1 and got[0].figure == 2 and got[0].threshold == 1
    assert "1 version(s) promoted (lab-prod:repair-cost:2)" in got[0].reason and "data window moved" in got[0].reason
    assert results[REPAIR].failing


def test_weights_fall_back_to_the_registry_then_to_equal_weights_said_so(demo_copy: Workspace) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    version = catalog.version(CREDIT)  # no explain evidence anywhere along its lineage in the demo
    w = drift_weights(catalog, version)
    assert w.source == "equal" and set(w.weights) == set(version.metadata["features"].split(","))
    assert registry_importances('{"income": 0.5, "dti": "0.25", "bad": "x"}') == {"income": 0.5, "dti": 0.25}
    assert registry_importances("income=0.5, dti=0.25") == {"income": 0.5, "dti": 0.25}


def test_a_missing_feature_counts_as_drifted_in_the_weighted_drift(tmp_path) -> None:
    rng = np.random.default_rng(1)
    import pandas as pd

    ref = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000), "c": rng.normal(size=3000)})
    cur = ref.drop(columns=["a"]).sample(frac=1.0, random_state=2)
    result = drift_files(ref, cur, DriftConfig(weights={"a": 3.0, "b": 1.0}, weights_source="given"))
    assert result.weighted_drift == pytest.approx(0.75) and result.heaviest() == (("a", 0.75),)
    assert result.headline == "a (75 % of the given weights) drifted"


def test_the_pdf_says_the_monitoring_gate_fails_and_the_revalidation_is_due(demo_copy: Workspace) -> None:
    from governance.reports.export import build_unsigned

    settings, catalog, officer = _open(demo_copy)
    monitor(Context(demo_copy, settings, catalog, officer), now=_built_on(catalog))
    built = build_unsigned(demo_copy, settings, catalog, officer, CLAIMS, "sr-11-7")
    text = " ".join(pdf_text(built.pdf).split())
    assert "weighted_drift FAIL" in text
    assert "Importance-weighted drift" in text and "claim_amount (" in text
    trigger = triggered_reviews(catalog, version_id=CLAIMS)[0]
    assert trigger.trigger_id in text.replace(" ", "") and "open: re-validation due" in text


def test_a_failing_finding_fails_the_drift_gate_whatever_the_share(demo_workspace: Workspace) -> None:
    from governance.policy import EvidenceRef

    summary = {"drift_share": 0.1, "dataset_drifted": False, "drifted_columns": ["claim_amount"], "n_columns": 10,
               "threshold": 0.5, "weighted_drift": 0.05, "weights_source": "shap", "weights_ref": "ev-x",
               "heaviest": [["claim_amount", 0.05]], "problems": ["claim_amount: missing in the current data"]}
    settings, catalog = load_settings(demo_workspace), Catalog(demo_workspace.catalog_path)
    ref = EvidenceRef("ev-drift", "drift", dt.datetime(2026, 11, 1), summary)
    results = {r.gate: r for r in evaluate(catalog, settings, "lab-staging:claims-fraud:3", "prod",
                                           evidence=lambda v, kind: ref if kind == "drift" else None,
                                           now=dt.datetime(2026, 11, 2)).results}
    assert results["drift"].status == "fail" and "claim_amount: missing in the current data" in results["drift"].message
    assert results["weighted_drift"].status == "pass"  # 5 % of the attribution: within 0.25
