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
from governance.analytics.artifacts import load_model
from governance.analytics.explain import ExplainConfig, explain_model, result_from_dict

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

    from governance.cli import main

    monkeypatch.setenv("COUNTERSIGN_ACTOR", "risk.officer@demo.countersign.dev")
    args = ["explain", "--workspace", str(demo_copy.root), "--version", "lab-staging:credit-approval:3", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    item = doc["evidence"]["explain"]
    assert item["status"] == "computed" and item["summary"]["top_features"][0][0] == "gender_female"
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["evidence"]["explain"]["status"] == "cached"
    monkeypatch.setenv("COUNTERSIGN_ACTOR", "auditor@demo.countersign.dev")
    assert main(["explain", "--workspace", str(demo_copy.root), "--version", "lab-dev:claims-fraud:1"]) == 2
    assert "may not compute evidence" in capsys.readouterr().err
