"""Bias engine: every rate and parity metric equals fairlearn's; Clarify metrics equal the documented formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score
from statsmodels.stats.proportion import proportion_confint

from core.errors import InputError
from governance.analytics.bias import BiasConfig, Counts, bias_file, clarify_metrics, result_from_dict


@pytest.fixture(scope="module")
def scored() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    n = 6000
    gender = rng.choice(["F", "M", "X"], n, p=[0.45, 0.45, 0.10])
    age = rng.choice(["18-30", "31-50", "51+"], n)
    x = rng.normal(size=n)
    label = (x + rng.normal(0, 0.8, n) > 0).astype(int)
    score = 1 / (1 + np.exp(-(1.5 * x - 0.6 * (gender == "F") + 0.3 * (age == "51+"))))
    return pd.DataFrame({"gender": gender, "age_band": age, "label": label, "score": score,
                         "prediction": (score >= 0.5).astype(int)})


METRICS = {
    "selection_rate": selection_rate,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "precision": lambda y, p: precision_score(y, p, zero_division=0),
    "accuracy": accuracy_score,
}


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("attrs", [["gender"], ["age_band"], ["gender", "age_band"]])
def test_rates_and_parity_equal_fairlearn(scored, attrs):
    result = bias_file(scored, BiasConfig(label="label", prediction="prediction", protected=("gender", "age_band")))
    name = "×".join(attrs)
    ours = result.attribute(name)
    sens = scored[attrs] if len(attrs) > 1 else scored[attrs[0]]
    frame = MetricFrame(metrics=METRICS, y_true=scored["label"], y_pred=scored["prediction"], sensitive_features=sens)
    for key, row in frame.by_group.iterrows():
        group = "|".join(key) if isinstance(key, tuple) else key
        g = ours.group(group)
        for metric in METRICS:
            assert _close(getattr(g, metric), row[metric]), (group, metric)
    kwargs = {"y_true": scored["label"], "y_pred": scored["prediction"], "sensitive_features": sens}
    assert _close(ours.demographic_parity_difference, demographic_parity_difference(**kwargs))
    assert _close(ours.demographic_parity_ratio, demographic_parity_ratio(**kwargs))
    assert _close(ours.equalized_odds_difference, equalized_odds_difference(**kwargs))


def test_score_with_threshold_equals_prediction_column(scored):
    by_pred = bias_file(scored, BiasConfig(label="label", prediction="prediction", protected=("gender",)))
    by_score = bias_file(scored, BiasConfig(label="label", score="score", threshold=0.5, protected=("gender",)))
    assert by_pred.attribute("gender").groups == by_score.attribute("gender").groups
    strict = bias_file(scored, BiasConfig(label="label", score="score", threshold=0.9, protected=("gender",)))
    expected = (scored["score"] >= 0.9).groupby(scored["gender"]).mean()
    for g in strict.attribute("gender").groups:
        assert _close(g.selection_rate, expected[g.group])


def test_planted_disparity_fails_four_fifths(scored):
    result = bias_file(scored, BiasConfig(label="label", prediction="prediction", protected=("gender", "age_band")))
    gender = result.attribute("gender")
    rates = scored.groupby("gender")["prediction"].mean()
    assert gender.four_fifths_pass == (rates.min() / rates.max() >= 0.8)
    assert gender.four_fifths_pass is False
    assert result.min_disparate_impact == pytest.approx(rates.min() / rates.max(), rel=1e-12)
    assert set(result.summary().attributes) == {"gender", "age_band"}


def test_wilson_intervals_equal_statsmodels(scored):
    result = bias_file(scored, BiasConfig(label="label", prediction="prediction", protected=("gender",)))
    for g in result.attribute("gender").groups:
        lo, hi = proportion_confint(g.tp + g.fp, g.n, alpha=0.05, method="wilson")
        assert g.selection_rate_ci == pytest.approx((lo, hi), abs=1e-9)
        lo, hi = proportion_confint(g.tp, g.tp + g.fn, alpha=0.05, method="wilson")
        assert g.tpr_ci == pytest.approx((lo, hi), abs=1e-9)


def test_clarify_metrics_match_the_documented_worked_example():
    # The AWS documentation's SD example: facet a (TN 20, FN 5, FP 10, TP 65), facet d (TN 18, FN 7, FP 5, TP 20).
    a, d = Counts(tp=65, fp=10, fn=5, tn=20), Counts(tp=20, fp=5, fn=7, tn=18)
    m = clarify_metrics(d, a)
    assert m["SD"] == pytest.approx(0.1159, abs=5e-5)  # the value printed in the documentation
    qa, qd = 0.7, 0.54
    mid = ((qa + qd) / 2, 1 - (qa + qd) / 2)
    expected = {
        "CI": (100 - 50) / 150,
        "DPL": qa - qd,
        "KL": qa * math.log(qa / qd) + (1 - qa) * math.log((1 - qa) / (1 - qd)),
        "JS": 0.5 * (qa * math.log(qa / mid[0]) + (1 - qa) * math.log((1 - qa) / mid[1])
                     + qd * math.log(qd / mid[0]) + (1 - qd) * math.log((1 - qd) / mid[1])),
        "LP": math.sqrt(2 * (qa - qd) ** 2),
        "TVD": qa - qd,
        "KS": qa - qd,
        "DPPL": 75 / 100 - 25 / 50,
        "DI": (25 / 50) / (75 / 100),
        "DCA": 70 / 75 - 27 / 25,
        "DCR": 23 / 25 - 30 / 25,
        "RD": 65 / 70 - 20 / 27,
        "SD": 18 / 23 - 20 / 30,
        "DAR": 65 / 75 - 20 / 25,
        "DRR": 18 / 25 - 20 / 25,
        "AD": 85 / 100 - 38 / 50,
        "TE": 7 / 5 - 5 / 10,
    }
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, rel=1e-12), name


def test_clarify_metrics_through_the_engine_facet_against_rest():
    rows = []
    for facet, c in {"a": Counts(65, 10, 5, 20), "d": Counts(20, 5, 7, 18)}.items():
        rows += [(facet, 1, 1)] * c.tp + [(facet, 0, 1)] * c.fp + [(facet, 1, 0)] * c.fn + [(facet, 0, 0)] * c.tn
    df = pd.DataFrame(rows, columns=["facet", "label", "pred"])
    result = bias_file(df, BiasConfig(label="label", prediction="pred", protected=("facet",)))
    clar = result.attribute("facet").clarify
    assert clar["d"]["SD"] == pytest.approx(18 / 23 - 20 / 30)
    assert clar["a"]["CI"] == pytest.approx(-clar["d"]["CI"])  # facet and rest swap roles


def test_small_groups_warn_and_undefined_rates_are_none():
    df = pd.DataFrame({"g": ["big"] * 200 + ["tiny"] * 4, "y": [1, 0] * 100 + [0] * 4, "p": [1, 0] * 100 + [1] * 4})
    result = bias_file(df, BiasConfig(label="y", prediction="p", protected=("g",)))
    tiny = result.attribute("g").group("tiny")
    assert tiny.small and tiny.tpr is None and tiny.tpr_ci is None
    assert any("tiny" in w and "too few" in w for w in result.warnings)
    assert result.to_dict()["attributes"][0]["groups"][1]["tpr"] is None


def test_result_round_trips_through_dict(scored):
    result = bias_file(scored, BiasConfig(label="label", prediction="prediction", protected=("gender", "age_band")))
    assert result_from_dict(result.to_dict()) == result


def test_text_labels_with_explicit_positive():
    df = pd.DataFrame({"g": ["a", "b"] * 50, "y": ["approve", "deny", "deny", "approve"] * 25,
                       "p": ["approve", "approve", "deny", "deny"] * 25})
    result = bias_file(df, BiasConfig(label="y", prediction="p", protected=("g",), positive_label="approve"))
    assert result.positive_label == "approve"
    with pytest.raises(InputError, match="favourable outcome"):
        bias_file(df, BiasConfig(label="y", prediction="p", protected=("g",)))


# -- bad input ---------------------------------------------------------------------------------------------------


def test_bad_input_is_explained(scored):
    base = {"label": "label", "prediction": "prediction", "protected": ("gender",)}
    with pytest.raises(InputError, match="not binary"):
        bias_file(scored.assign(label=np.arange(len(scored)) % 3), BiasConfig(**base))
    with pytest.raises(InputError, match="never occurs"):
        bias_file(scored, BiasConfig(**base, positive_label="7"))
    with pytest.raises(InputError, match="single value"):
        bias_file(scored.assign(gender="F"), BiasConfig(**base))
    with pytest.raises(InputError, match="not in the data"):
        bias_file(scored, BiasConfig(label="label", prediction="prediction", protected=("race",)))
    with pytest.raises(InputError, match="not the label's values"):
        bias_file(scored.assign(prediction=np.where(scored.prediction == 1, "yes", "no")), BiasConfig(**base))
    with pytest.raises(InputError, match="either a prediction column or a score"):
        BiasConfig(label="label", protected=("gender",))
    with pytest.raises(InputError, match="has no rows"):
        bias_file(scored.iloc[:0], BiasConfig(**base))
    one_value = bias_file(scored.assign(region="north"),
                          BiasConfig(label="label", prediction="prediction", protected=("gender", "region")))
    assert [a.attribute for a in one_value.attributes] == ["gender"]
    assert any("region" in w for w in one_value.warnings)


def test_missing_values_form_their_own_group_and_unlabelled_rows_are_counted(scored):
    df = scored.copy()
    df.loc[:9, "gender"] = None
    df.loc[10:14, "label"] = None
    result = bias_file(df, BiasConfig(label="label", prediction="prediction", protected=("gender",)))
    assert result.attribute("gender").group("(missing)").n == 10
    assert result.dropped_rows == 5 and result.n == len(df) - 5


def test_cli_bias_json_and_exit_codes(tmp_path, scored, capsys):
    import json

    from countersign_cli.main import main

    scored.to_parquet(tmp_path / "scored.parquet")
    args = ["bias", "--data", str(tmp_path / "scored.parquet"), "--label", "label", "--protected", "gender,age_band"]
    assert main([*args, "--prediction", "prediction", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    gender = doc["attributes"]["gender"]
    assert {"demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference"} <= set(gender)
    assert {"n", "selection_rate", "tpr", "fpr"} <= set(gender["groups"]["F"])
    assert {"CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "DPPL", "DI", "DCA", "DCR", "RD", "SD", "DAR", "DRR", "AD",
            "TE"} == set(gender["clarify"]["F"])
    assert "gender×age_band" in doc["intersections"]
    assert main([*args, "--score", "score", "--threshold", "0.5", "--fail-on-four-fifths"]) == 1
    capsys.readouterr()
    assert main([*args, "--prediction", "prediction", "--positive", "9"]) == 2
    assert "never occurs" in capsys.readouterr().err
