"""Bias engine vs fairlearn's MetricFrame on the same scored data: speed and equality of every number.

Run: ``.venv/bin/python benchmarks/bias.py`` (1M rows, 2 protected attributes) or ``--quick`` (100k rows).
Both sides compute, per attribute and group, selection rate, TPR, FPR, precision and accuracy, and per attribute
demographic parity difference and ratio and equalized odds difference. Our engine also computes the intersections,
Wilson intervals and Clarify's metrics in the same call; fairlearn is asked only for what it offers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scored(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    gender = rng.choice(["female", "male", "other"], rows, p=[0.48, 0.48, 0.04])
    age = rng.choice(["18-29", "30-49", "50-64", "65+"], rows, p=[0.25, 0.4, 0.25, 0.1])
    x = rng.normal(size=rows)
    label = (x + rng.normal(0, 0.8, rows) > 0).astype(np.int64)
    score = 1 / (1 + np.exp(-(1.4 * x - 0.5 * (gender == "female"))))
    return pd.DataFrame({"gender": gender, "age_band": age, "label": label, "score": score,
                         "prediction": (score >= 0.5).astype(np.int64)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k rows instead of 1M")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start (other work inflates timings)")
    rows = 100_000 if args.quick else 1_000_000
    df = scored(rows)
    attrs = ("gender", "age_band")

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

    from governance.analytics.bias import BiasConfig, bias_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scored.parquet"
        df.to_parquet(path)
        config = BiasConfig(label="label", prediction="prediction", protected=attrs)
        bias_file(df.head(1000), config)  # warm-up: imports and first connection
        started = time.perf_counter()
        ours = bias_file(path, config)
        t_ours = time.perf_counter() - started
        started = time.perf_counter()
        ours_df = bias_file(df, config)
        t_ours_df = time.perf_counter() - started

    metrics = {"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
               "precision": lambda y, p: precision_score(y, p, zero_division=0), "accuracy": accuracy_score}
    started = time.perf_counter()
    theirs = {}
    for a in attrs:
        kw = {"y_true": df["label"], "y_pred": df["prediction"], "sensitive_features": df[a]}
        frame = MetricFrame(metrics=metrics, **kw)
        theirs[a] = (frame.by_group, demographic_parity_difference(**kw), demographic_parity_ratio(**kw),
                     equalized_odds_difference(**kw))
    t_theirs = time.perf_counter() - started

    worst = 0.0
    compared = 0
    for a in attrs:
        by_group, dpd, dpr, eod = theirs[a]
        mine = ours.attribute(a)
        for group, row in by_group.iterrows():
            g = mine.group(str(group))
            for m in metrics:
                worst = max(worst, abs(getattr(g, m) - row[m]))
                compared += 1
        for mv, tv in ((mine.demographic_parity_difference, dpd), (mine.demographic_parity_ratio, dpr),
                       (mine.equalized_odds_difference, eod)):
            worst = max(worst, abs(mv - tv))
            compared += 1
    same_df = ours_df.attributes == ours.attributes

    print(f"== {rows:,} scored rows, protected attributes {', '.join(attrs)} ==")
    print(f"Countersign (Parquet file)   {t_ours:8.3f} s   (also: intersections, Wilson CIs, 17 Clarify metrics)")
    print(f"Countersign (DataFrame)      {t_ours_df:8.3f} s")
    print(f"fairlearn MetricFrame        {t_theirs:8.3f} s   (5 metrics × 2 attributes + 3 parity metrics each)")
    print(f"speed-up                     {t_theirs / t_ours:8.1f}×   (goal ≥ 50×)")
    print(f"numbers compared             {compared}, largest absolute difference {worst:.1e} (goal ≤ 1e-12)")
    print(f"file and DataFrame agree     {same_df}")


if __name__ == "__main__":
    main()
