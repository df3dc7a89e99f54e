"""Evidently's interactive HTML report on a bounded sample, with the same method per column."""

from __future__ import annotations

from typing import Any

from governance.analytics.drift.methods import CATEGORICAL, NUMERIC, method
from governance.analytics.drift.results import DriftResult
from governance.analytics.io import quote


def _inert(text: str) -> str:
    """``text`` that cannot close or open markup inside an inline ``<script>`` (``</script>``, ``<!--``): an invisible
    word joiner after each ``<``. Evidently 0.7 embeds column names and category values in its report's scripts
    without escaping them, so a value ``</script>…`` would end the script and break (or script) the report."""
    return text.replace("<", "<\u2060")


def _inert_frame(frame: Any) -> Any:
    """The frame with :func:`_inert` column names and string values (numbers untouched)."""
    out = frame.rename(columns=lambda c: _inert(str(c)))
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: _inert(v) if isinstance(v, str) else v)
    return out


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

    frames = [_inert_frame(f) for f in frames]  # Evidently inlines names and values in <script> unescaped
    kinds = {c.column: _evidently_kind(c.column_type, c.method) for c in result.columns}
    definition = DataDefinition(
        numerical_columns=[_inert(c) for c, kind in kinds.items() if kind == NUMERIC],
        categorical_columns=[_inert(c) for c, kind in kinds.items() if kind == CATEGORICAL],
    )
    preset = DataDriftPreset(
        per_column_method={_inert(c.column): c.method for c in result.columns},
        per_column_threshold={_inert(c.column): c.threshold for c in result.columns},
        drift_share=result.drift_share_threshold,
    )
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(frames[1], data_definition=definition),
        Dataset.from_pandas(frames[0], data_definition=definition),
    )
    return _fit_width(snapshot.get_html_str(as_iframe=False))


def _evidently_kind(column_type: str, name: str) -> str:
    """How to declare a column to Evidently: a numeric column compared value by value (Z-test, chi-square on a
    two-to-five-valued column) is categorical to Evidently, which refuses those tests on a numerical column."""
    return CATEGORICAL if column_type == NUMERIC and method(name).needs == "values" else column_type


# Evidently's report card clips what is wider than the window (overflow hidden): let it scroll sideways instead
_FIT_WIDTH = "<style>.MuiPaper-root{overflow-x:auto !important}</style>"


def _fit_width(html: str) -> str:
    """The report with :data:`_FIT_WIDTH` as the first thing in its ``<head>`` (unchanged if it has none)."""
    at = html.find("<head>")
    return html if at < 0 else html[:at + len("<head>")] + _FIT_WIDTH + html[at + len("<head>"):]
