"""Explainability: additivity holds against the model's own output, and planted important features rank first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.errors import InputError
from governance.analytics import evidence_charts
from governance.analytics.artifacts import load_model
from governance.analytics.explain import (
    MAX_LOCAL_ROWS,
    ExplainConfig,
    explain_model,
    kept_positions,
    result_from_dict,
)

FEATURES = ["strong", "medium", "noise1", "noise2", "noise3"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 1500
    df = pd.DataFrame(rng.normal(size=(n, 5)), columns=FEATURES)
    df["gender"] = rng.choice(["female", "male"], n)
    logit = 2.5 * df["strong"] + 1.0 * df["medium"]
    df["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df["amount"] = 3 * df["strong"] + df["medium"] + rng.normal(0, 0.1, n)
    return df


def _saved(tmp_path, est):
    path = tmp_path / "m.skops"
    sio.dump(est, path)
    return load_model(path)


@pytest.mark.parametrize("make,target,explainer", [
    (lambda: GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0), "label", "TreeExplainer"),
    (lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0), "label", "TreeExplainer"),
    (lambda: RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0), "amount", "TreeExplainer"),
    (lambda: LogisticRegression(), "label", "LinearExplainer"),
])
def test_additivity_and_planted_ranking(tmp_path, data, make, target, explainer):
    est = make().fit(data[FEATURES].to_numpy(), data[target].to_numpy())
    loaded = _saved(tmp_path, est)
    result = explain_model(loaded, data, FEATURES, groups=data[["gender"]], config=ExplainConfig(max_rows=400))
    assert result.explainer == explainer
    assert result.additivity_max_error < 1e-6
    ranking = [name for name, _ in result.importance]
    assert ranking[:2] == ["strong", "medium"]
    assert result.n_rows == 400
    # the local explanation adds up to the model's output for that row
    local = result.local
    assert sum(local["contributions"].values()) + local["base_value"] == pytest.approx(local["output"], abs=1e-6)


def test_linear_contributions_equal_the_closed_form(tmp_path, data):
    est = LogisticRegression().fit(data[FEATURES].to_numpy(), data["label"].to_numpy())
    result = explain_model(_saved(tmp_path, est), data, FEATURES, config=ExplainConfig(max_rows=50, background_rows=80))
    # interventional linear SHAP: coef_j * (x_j - mean of the background's x_j); recompute the background as sampled
    rng = np.random.default_rng(42)
    X = data[FEATURES].to_numpy()
    rng.choice(len(X), size=50, replace=False)
    bg = X[np.sort(rng.choice(len(X), size=80, replace=False))]
    row = X[result.local["row"]]
    expected = est.coef_[0] * (row - bg.mean(axis=0))
    assert [result.local["contributions"][f] for f in FEATURES] == pytest.approx(expected.tolist(), abs=1e-9)


def test_permutation_fallback_for_pipelines(tmp_path, data):
    est = make_pipeline(StandardScaler(), LogisticRegression()).fit(data[FEATURES].to_numpy(), data["label"])
    result = explain_model(_saved(tmp_path, est), data, FEATURES,
                           config=ExplainConfig(permutation_max_rows=40, background_rows=30))
    assert result.explainer == "PermutationExplainer" and result.output == "probability"
    assert result.n_rows == 40
    assert result.additivity_max_error < 1e-6
    assert result.importance[0][0] == "strong"


def test_xgboost_native_model(tmp_path, data):
    import xgboost as xgb

    clf = xgb.XGBClassifier(n_estimators=30, max_depth=3).fit(data[FEATURES].to_numpy(), data["label"])
    clf.save_model(tmp_path / "m.json")
    result = explain_model(load_model(tmp_path / "m.json"), data, FEATURES, config=ExplainConfig(max_rows=300))
    assert result.output == "log-odds" and result.additivity_max_error < 1e-4
    assert [n for n, _ in result.importance[:2]] == ["strong", "medium"]


def test_group_importance_is_the_mean_within_each_group(tmp_path, data):
    est = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(data[FEATURES].to_numpy(), data["label"])
    result = explain_model(_saved(tmp_path, est), data, FEATURES, groups=data[["gender"]],
                           config=ExplainConfig(max_rows=len(data)))
    import shap

    sv = shap.TreeExplainer(est).shap_values(data[FEATURES].to_numpy())
    for g in ("female", "male"):
        mask = (data["gender"] == g).to_numpy()
        expected = np.abs(sv[mask]).mean(axis=0)
        got = [result.group_importance["gender"][g][f] for f in FEATURES]
        assert got == pytest.approx(expected.tolist(), rel=1e-9)


def test_time_budget_stops_early_with_partial_rows(tmp_path, data):
    est = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(data[FEATURES].to_numpy(), data["label"])
    seen = []
    result = explain_model(_saved(tmp_path, est), data, FEATURES, config=ExplainConfig(max_rows=1500, budget_seconds=0),
                           progress=lambda m, f: seen.append(f))
    assert result.stopped_early and 0 < result.n_rows < 1500
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert result_from_dict(result.to_dict()) == result


@pytest.fixture(scope="module")
def gbc(data):
    return GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(data[FEATURES].to_numpy(),
                                                                                      data["label"])


@pytest.fixture(scope="module")
def kept_result(tmp_path_factory, data, gbc):
    """Every row explained (so a kept row is its position in ``data``), configured row 7."""
    return explain_model(_saved(tmp_path_factory.mktemp("kept"), gbc), data, FEATURES, groups=data[["gender"]],
                         config=ExplainConfig(max_rows=len(data), local_row=7))


def test_each_kept_row_adds_up_to_the_models_output_and_equals_shap(data, gbc, kept_result):
    import shap

    X = data[FEATURES].to_numpy()
    explainer = shap.TreeExplainer(gbc)
    sv = explainer.shap_values(X)
    margin = gbc.decision_function(X)
    rows = kept_result.kept_rows
    assert len(rows) == MAX_LOCAL_ROWS == len(set(rows))
    for local in kept_result.local_rows:
        r = local["row"]
        assert [local["contributions"][f] for f in FEATURES] == pytest.approx(sv[r].tolist(), abs=1e-9)
        assert local["base_value"] == pytest.approx(float(np.ravel(explainer.expected_value)[-1]), abs=1e-9)
        assert local["output"] == pytest.approx(margin[r], abs=1e-9)
        assert sum(local["contributions"].values()) + local["base_value"] == pytest.approx(margin[r], abs=1e-6)
        assert local["values"] == {f: pytest.approx(X[r, i]) for i, f in enumerate(FEATURES)}


def test_kept_rows_are_the_configured_the_extremes_and_the_first(data, gbc, kept_result):
    margin = gbc.decision_function(data[FEATURES].to_numpy())
    rows = kept_result.kept_rows
    assert rows[0] == 7 and kept_result.local == kept_result.local_rows[0] == kept_result.local_at()
    highest = np.argsort(-margin, kind="stable")[:5].tolist()
    lowest = np.argsort(margin, kind="stable")[:5].tolist()
    assert list(rows[1:11]) == highest + lowest
    first = [r for r in range(len(data)) if r not in {7, *highest, *lowest}]
    assert list(rows[11:]) == first[:MAX_LOCAL_ROWS - 11]


def test_kept_positions_bounds_ties_and_small_samples():
    out = np.array([0.5, 0.9, 0.1, 0.9, 0.1, 0.5])
    assert kept_positions(out, 2, limit=4, extremes=1) == [2, 1, 0, 3]  # ties: the first in sample order
    assert kept_positions(out, 0) == [0, 1, 3, 5, 2, 4]  # fewer rows than the limit: each once
    assert kept_positions(out, 0, limit=1) == [0]
    assert kept_positions(np.array([]), 0) == []


def test_kept_rows_follow_the_sample_and_the_time_budget(tmp_path, data, gbc):
    loaded = _saved(tmp_path, gbc)
    small = explain_model(loaded, data.iloc[:8], FEATURES, config=ExplainConfig(local_row=3))
    assert sorted(small.kept_rows) == list(range(8)) and small.kept_rows[0] == 3
    sampled = explain_model(loaded, data, FEATURES, config=ExplainConfig(max_rows=300, local_row=99))
    assert len(sampled.kept_rows) == MAX_LOCAL_ROWS
    assert set(sampled.kept_rows) <= set(range(len(data))) and sampled.local["row"] == sampled.kept_rows[0]
    stopped = explain_model(loaded, data, FEATURES, config=ExplainConfig(max_rows=1500, budget_seconds=0,
                                                                         local_row=1400))
    assert stopped.stopped_early and len(stopped.kept_rows) == MAX_LOCAL_ROWS  # a kept row was explained
    assert stopped.local["row"] == stopped.kept_rows[0] < 1500


def test_kept_rows_round_trip_through_stored_evidence(demo_copy, kept_result):
    from governance.analytics.evidence import evidence_by_id, store_evidence
    from governance.catalog import Catalog
    from governance.config import load_settings
    from governance.identity import identity_for

    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path)
    catalog.migrate()
    officer = identity_for(settings, "risk.officer@demo.countersign.dev", source="cli")
    assert result_from_dict(kept_result.to_dict()) == kept_result
    ev = store_evidence(catalog, kind="explain", version_id="v", input_hash="a" * 64, config_hash="b" * 64,
                        result=kept_result.to_dict(), summary=kept_result.summary(), inputs={}, actor=officer)
    loaded = result_from_dict(evidence_by_id(catalog, ev.evidence_id).result)
    assert loaded == kept_result
    assert loaded.kept_rows == kept_result.kept_rows and loaded.local_at(loaded.kept_rows[-1])["row"] == \
        kept_result.kept_rows[-1]


def test_evidence_stored_before_kept_rows_still_loads_and_draws(kept_result):
    old = kept_result.to_dict()
    del old["local_rows"]  # what explain evidence held before rows were kept
    result = result_from_dict(old)
    assert result.local_rows == () and result.kept_rows == (7,) and result.local_at(7) == kept_result.local
    spec = evidence_charts.waterfall_chart(old).to_dict()
    assert spec["title"] == "Local explanation of row 7"
    assert evidence_charts.waterfall_chart(old, 7).to_dict()["title"] == spec["title"]
    with pytest.raises(InputError, match=r"row 8 has no local explanation.*kept rows: 7"):
        evidence_charts.waterfall_chart(old, 8)


def test_waterfall_draws_the_chosen_kept_row(kept_result):
    def steps(row=None):
        spec = evidence_charts.waterfall_chart(kept_result, row).to_dict()
        values = next(iter(spec["datasets"].values()))
        return spec["title"], {v["step"]: v["end"] for v in values}

    title, default = steps()
    assert title == "Local explanation of row 7" and default == steps(7)[1]
    other = kept_result.kept_rows[1]
    title, chosen = steps(other)
    assert title == f"Local explanation of row {other}"
    assert chosen["model output"] == pytest.approx(kept_result.local_at(other)["output"])
    assert chosen != default
    missing = next(r for r in range(len(kept_result.kept_rows) + 2) if r not in kept_result.kept_rows)
    with pytest.raises(InputError, match=f"row {missing} has no local explanation"):
        evidence_charts.waterfall_chart(kept_result, missing)


def test_bad_input(tmp_path, data):
    est = LogisticRegression().fit(data[FEATURES].to_numpy(), data["label"])
    loaded = _saved(tmp_path, est)
    with pytest.raises(InputError, match="lacks model feature"):
        explain_model(loaded, data.drop(columns=["noise3"]), FEATURES)
    with pytest.raises(InputError, match="not numeric"):
        explain_model(loaded, data.assign(noise3="x"), FEATURES)
    with pytest.raises(InputError, match="no rows"):
        explain_model(loaded, data.iloc[:0], FEATURES)


def test_cli_explain_on_a_workspace_version(demo_copy, capsys, monkeypatch):
    import json

    from countersign_cli.main import main

    monkeypatch.setenv("COUNTERSIGN_ACTOR", "risk.officer@demo.countersign.dev")
    args = ["explain", "--workspace", str(demo_copy.root), "--version", "lab-staging:credit-approval:3", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    item = doc["evidence"]["explain"]
    assert item["status"] == "computed" and item["summary"]["top_features"][0][0] == "gender_female"
    kept = item["local_rows"]  # the rows the Review page's waterfall offers, each with its model output
    assert len(kept) == MAX_LOCAL_ROWS and len({k["row"] for k in kept}) == len(kept)
    assert all(isinstance(k["output"], float) for k in kept)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["evidence"]["explain"]["status"] == "cached"
    monkeypatch.setenv("COUNTERSIGN_ACTOR", "auditor@demo.countersign.dev")
    assert main(["explain", "--workspace", str(demo_copy.root), "--version", "lab-dev:claims-fraud:1"]) == 2
    assert "may not compute evidence" in capsys.readouterr().err
