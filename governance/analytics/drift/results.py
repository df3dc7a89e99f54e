"""How to compare two tables (:class:`DriftConfig`) and what the comparison found (:class:`DriftResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import InputError
from governance.analytics.drift.methods import CORRECTIONS, KINDS, method
from governance.analytics.summaries import WEIGHT_SOURCES, DriftSummary

PROBLEMS = {"missing_in_current": "missing in the current data",
            "type_changed": "type changed",
            "empty_in_current": "no values in the current data"}


@dataclass(frozen=True)
class DriftConfig:
    """How to compare two tables. Every field is part of the evidence's configuration hash.

    Args:
        columns: columns to compare (default: all columns present on both sides, minus ``exclude``).
        exclude: columns never compared (ids, labels, predictions).
        column_types: per column ``numeric`` or ``categorical`` (default inferred from the SQL type).
        methods: per column method name; ``num_method``/``cat_method`` apply to the rest of each kind.
        thresholds: per column threshold (default: the method's).
        drift_share: the dataset drifts when at least this share of columns drifts.
        correction: ``bonferroni``, ``holm`` or ``fdr_bh`` applied to the p-value methods across columns.
        exact_max_rows: K-S/Wasserstein are exact while reference + current rows stay at or below this.
        hist_bins: bins of the fine histogram used above ``exact_max_rows``.
        weights: how much the model relies on each feature (any non-negative scale, e.g. mean |SHAP|); the
            importance-weighted drift is the weight of the drifted features over the weight of all features
            compared. Empty: every compared column weighs the same.
        weights_source: where the weights come from: ``shap`` (explain evidence), ``registry`` (the registry's
            feature importances), ``given`` (a person), ``equal`` (nothing known: said so).
        weights_ref: what the weights cite (the explain evidence id).
    """

    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    column_types: Mapping[str, str] = field(default_factory=dict)
    methods: Mapping[str, str] = field(default_factory=dict)
    num_method: str | None = None
    cat_method: str | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)
    drift_share: float = 0.5
    correction: str | None = None
    exact_max_rows: int = 1_000_000
    hist_bins: int = 4096
    weights: Mapping[str, float] = field(default_factory=dict)
    weights_source: str = "equal"
    weights_ref: str | None = None

    def __post_init__(self) -> None:
        for col, kind in self.column_types.items():
            if kind not in KINDS:
                raise InputError(f"column type of {col!r} must be one of {', '.join(KINDS)}, not {kind!r}")
        for name in [*self.methods.values(), self.num_method, self.cat_method]:
            if name is not None:
                method(name)
        if not 0 < self.drift_share <= 1:
            raise InputError(f"drift share threshold must be in (0, 1], got {self.drift_share}")
        if self.correction is not None and self.correction not in CORRECTIONS:
            raise InputError(f"unknown correction {self.correction!r} (known: {', '.join(CORRECTIONS)})")
        if self.hist_bins < 16:
            raise InputError("hist_bins must be at least 16")
        bad = [c for c, w in self.weights.items() if not (isinstance(w, int | float) and w >= 0 and w == w)]
        if bad:
            raise InputError(f"weights must be non-negative numbers; {', '.join(map(repr, bad))} are not")
        if self.weights_source not in WEIGHT_SOURCES:
            raise InputError(f"unknown weights source {self.weights_source!r} (known: {', '.join(WEIGHT_SOURCES)})")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering (for hashing and for the evidence row)."""
        d = asdict(self)
        d["columns"] = list(self.columns) if self.columns is not None else None
        d["column_types"], d["methods"] = dict(self.column_types), dict(self.methods)
        d["thresholds"] = dict(self.thresholds)
        d["weights"] = {k: float(v) for k, v in sorted(self.weights.items())}
        return d


@dataclass(frozen=True)
class ColumnProblem:
    """A reference column the current data does not carry as it was: a failing finding, counted as drifted.

    ``problem``: ``missing_in_current`` (the column is gone), ``type_changed`` (numeric on one side and text on
    the other, or another change of kind) or ``empty_in_current`` (no value left: all NULL, NaN or ±inf).
    """

    column: str
    problem: str
    detail: str

    def describe(self) -> str:
        """``claim_amount: missing in the current data (…)``."""
        return f"{self.column}: {PROBLEMS.get(self.problem, self.problem)}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class ColumnDrift:
    """The verdict for one column."""

    column: str
    column_type: str
    method: str
    score: float
    threshold: float
    drifted: bool
    psi: float
    n_reference: int
    n_current: int
    nulls_reference: int
    nulls_current: int
    exact: bool = True
    p_value_adjusted: float | None = None
    ks_statistic: float | None = None
    chart: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftResult:
    """Drift of every compared column and of the dataset."""

    columns: tuple[ColumnDrift, ...]
    drift_share: float
    dataset_drifted: bool
    drift_share_threshold: float
    n_reference: int
    n_current: int
    missing_in_current: tuple[str, ...] = ()
    missing_in_reference: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    correction: str | None = None
    seconds: float = 0.0
    # which engine computed the aggregates: name, query_hash, queries, rows_returned, bytes_returned
    engine: dict[str, Any] = field(default_factory=dict)
    # reference columns missing, retyped or emptied in the current data: failing findings, counted as drifted
    problems: tuple[ColumnProblem, ...] = ()
    # index columns pandas wrote beside the data, left out (either side)
    index_columns: tuple[str, ...] = ()
    # the importance-weighted drift: weight of the drifted features over the weight of the features compared
    weighted_drift: float | None = None
    weights: dict[str, float] = field(default_factory=dict)  # normalised over the features compared (sum 1)
    weights_source: str = "equal"
    weights_ref: str | None = None

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns, then of the problem columns (which count as drifted)."""
        return [c.column for c in self.columns if c.drifted] + [p.column for p in self.problems]

    @property
    def failing(self) -> bool:
        """Whether the comparison fails: the dataset drifted, or a reference column is missing, retyped or empty in
        the current data (a failing finding whatever the share)."""
        return self.dataset_drifted or bool(self.problems)

    @property
    def n_compared(self) -> int:
        """The columns the share is over: those compared and those with a problem."""
        return len(self.columns) + len(self.problems)

    def heaviest(self, top: int = 5) -> tuple[tuple[str, float], ...]:
        """The drifted columns with their share of the weight, heaviest first (those of no weight left out)."""
        got = [(c, self.weights.get(c, 0.0)) for c in self.drifted_columns]
        return tuple(sorted(((c, w) for c, w in got if w > 0), key=lambda x: (-x[1], x[0]))[:top])

    def column(self, name: str) -> ColumnDrift:
        """The result of column ``name``."""
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def summary(self) -> DriftSummary:
        """The small record stored as the evidence summary."""
        return DriftSummary(drift_share=self.drift_share, dataset_drifted=self.dataset_drifted,
                            drifted_columns=tuple(self.drifted_columns), n_columns=self.n_compared,
                            threshold=self.drift_share_threshold, weighted_drift=self.weighted_drift,
                            weights_source=self.weights_source, weights_ref=self.weights_ref,
                            heaviest=self.heaviest(), problems=tuple(p.describe() for p in self.problems))

    @property
    def headline(self) -> str:
        """The drift in one sentence naming the heaviest drifted features (see :meth:`DriftSummary.headline`)."""
        return self.summary().headline

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        d = asdict(self)
        d["drifted_columns"] = self.drifted_columns
        d["skipped"] = [{"column": c, "reason": r} for c, r in self.skipped]
        d["headline"] = self.headline
        return d


def result_from_dict(d: Mapping[str, Any]) -> DriftResult:
    """Rebuild a :class:`DriftResult` from :meth:`DriftResult.to_dict` output (stored evidence)."""
    cols = tuple(ColumnDrift(**c) for c in d["columns"])
    return DriftResult(
        columns=cols, drift_share=d["drift_share"], dataset_drifted=d["dataset_drifted"],
        drift_share_threshold=d["drift_share_threshold"], n_reference=d["n_reference"], n_current=d["n_current"],
        missing_in_current=tuple(d.get("missing_in_current", ())),
        missing_in_reference=tuple(d.get("missing_in_reference", ())),
        skipped=tuple((s["column"], s["reason"]) for s in d.get("skipped", ())),
        correction=d.get("correction"), seconds=d.get("seconds", 0.0), engine=dict(d.get("engine") or {}),
        problems=tuple(ColumnProblem(**p) for p in d.get("problems", ())),
        index_columns=tuple(d.get("index_columns", ())), weighted_drift=d.get("weighted_drift"),
        weights=dict(d.get("weights") or {}), weights_source=d.get("weights_source") or "equal",
        weights_ref=d.get("weights_ref"),
    )
