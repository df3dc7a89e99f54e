"""How to compare two tables (:class:`DriftConfig`) and what the comparison found (:class:`DriftResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import InputError
from governance.analytics.drift.methods import CORRECTIONS, KINDS, method
from governance.analytics.summaries import DriftSummary


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

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering (for hashing and for the evidence row)."""
        d = asdict(self)
        d["columns"] = list(self.columns) if self.columns is not None else None
        d["column_types"], d["methods"] = dict(self.column_types), dict(self.methods)
        d["thresholds"] = dict(self.thresholds)
        return d


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

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the drifted columns."""
        return [c.column for c in self.columns if c.drifted]

    def column(self, name: str) -> ColumnDrift:
        """The result of column ``name``."""
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def summary(self) -> DriftSummary:
        """The small record stored as the evidence summary."""
        return DriftSummary(drift_share=self.drift_share, dataset_drifted=self.dataset_drifted,
                            drifted_columns=tuple(self.drifted_columns), n_columns=len(self.columns),
                            threshold=self.drift_share_threshold)

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        d = asdict(self)
        d["drifted_columns"] = self.drifted_columns
        d["skipped"] = [{"column": c, "reason": r} for c, r in self.skipped]
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
    )
