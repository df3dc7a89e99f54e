"""Evidently's interactive HTML report on a bounded sample, with the same method per column."""

from __future__ import annotations

from typing import Any

from governance.analytics.drift.methods import CATEGORICAL, NUMERIC
from governance.analytics.drift.results import DriftResult
from governance.analytics.io import quote


def evidently_report_html(
    reference: Any, current: Any, result: DriftResult, *, max_rows: int = 100_000, seed: int = 42
) -> str:
    """Evidently's ``DataDriftPreset`` HTML report on at most ``max_rows`` rows per side, same methods per column."""
    from governance.analytics.io import opened

    cols = [c.column for c in result.columns]
    with opened(ref=reference, cur=current) as (con, infos):
        frames = []
        for key in ("ref", "cur"):
            select = ", ".join(quote(c) for c in cols)
            sample = (f" USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE ({seed})"
                      if infos[key].rows > max_rows else "")
            frames.append(con.execute(f"SELECT {select} FROM {key}{sample}").df())
    from evidently import DataDefinition, Dataset, Report  # lazy: importing evidently takes seconds
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c.column for c in result.columns if c.column_type == NUMERIC],
        categorical_columns=[c.column for c in result.columns if c.column_type == CATEGORICAL],
    )
    preset = DataDriftPreset(
        per_column_method={c.column: c.method for c in result.columns},
        per_column_threshold={c.column: c.threshold for c in result.columns},
        drift_share=result.drift_share_threshold,
    )
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(frames[1], data_definition=definition),
        Dataset.from_pandas(frames[0], data_definition=definition),
    )
    return snapshot.get_html_str(as_iframe=False)
