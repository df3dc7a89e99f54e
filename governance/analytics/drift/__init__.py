"""Data drift between a reference and a current table, reduced to counts in plain SQL and scored in Python.

Every method is one row of :data:`METHODS`: a name, the column kinds it applies to, a pure function of the
column's :class:`Aggregates`, a default threshold and help text. The SQL only groups and counts (per-side
statistics, value counts, histogram counts on shared edges, merged sorted value runs), so the same aggregates can
run on Spark or Trino where large monitoring data lives.

The method per column follows Evidently's defaults (reference ≤ 1,000 rows: K-S for numeric columns with more
than five values, chi-square for categorical ones with more than two, a Z-test for two; above 1,000 rows:
normed Wasserstein for numeric, Jensen-Shannon for categorical and for numeric columns with ≤ 5 values), and each
score is computed exactly as Evidently 0.7 computes it (same binning, same zero filling), so the two agree to
rounding. K-S and Wasserstein are exact from the merged sorted values up to ``exact_max_rows`` rows; above it
they come from a fine histogram on shared edges (``hist_bins`` bins, linear CDF inside a bin), whose error
``benchmarks/drift.py`` measures.

The rooms: :mod:`~governance.analytics.drift.methods` (the registry of tests and the p-value corrections),
:mod:`~governance.analytics.drift.aggregates` (all the SQL), :mod:`~governance.analytics.drift.results` (configuration
and results), :mod:`~governance.analytics.drift.engine` (:func:`compute_drift`, :func:`drift_files`) and
:mod:`~governance.analytics.drift.report` (Evidently's HTML report).
"""

from __future__ import annotations

from governance.analytics.drift.aggregates import sturges_edges
from governance.analytics.drift.engine import compute_drift, drift_files
from governance.analytics.drift.methods import (
    CATEGORICAL,
    CORRECTIONS,
    KINDS,
    METHODS,
    METHODS_BY_NAME,
    NUMERIC,
    Aggregates,
    DriftMethod,
    adjust_p_values,
    default_method,
    method,
)
from governance.analytics.drift.report import evidently_report_html
from governance.analytics.drift.results import ColumnDrift, DriftConfig, DriftResult, result_from_dict

__all__ = [
    "CATEGORICAL",
    "CORRECTIONS",
    "KINDS",
    "METHODS",
    "METHODS_BY_NAME",
    "NUMERIC",
    "Aggregates",
    "ColumnDrift",
    "DriftConfig",
    "DriftMethod",
    "DriftResult",
    "adjust_p_values",
    "compute_drift",
    "default_method",
    "drift_files",
    "evidently_report_html",
    "method",
    "result_from_dict",
    "sturges_edges",
]
