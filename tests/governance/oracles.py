"""Independent oracles for the analytics tests: Evidently's own drift numbers on the same frames."""

from __future__ import annotations

from typing import Any

import pandas as pd


def evidently_drift(
    reference: pd.DataFrame, current: pd.DataFrame, numerical: list[str], categorical: list[str], **preset: Any
) -> tuple[dict[str, tuple[str, float, bool]], float]:
    """Per column (method title, value, drifted) and the drifted share, as Evidently's DataDriftPreset reports them."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    snap = Report([DataDriftPreset(**preset)], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    d = snap.dict()
    values: dict[str, tuple[str, float]] = {}
    share = float("nan")
    for m in d["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("ValueDrift"):
            values[cfg["column"]] = (cfg["method"], float(m["value"]))
        elif cfg["type"].endswith("DriftedColumnsCount"):
            share = float(m["value"]["share"])
    flags: dict[str, bool] = {}
    for t in d["tests"]:
        params = t["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            flags[params["column"]] = t["status"] == "FAIL"
    return {c: (values[c][0], values[c][1], flags[c]) for c in values}, share
