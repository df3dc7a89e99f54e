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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import numpy as np
from scipy import stats
from scipy.spatial import distance

from core.errors import InputError
from core.progress import ProgressFn, no_progress
from governance.analytics.io import TableInfo, quote
from governance.analytics.summaries import DriftSummary

NUMERIC = "numeric"
CATEGORICAL = "categorical"
KINDS = (NUMERIC, CATEGORICAL)
CORRECTIONS = ("bonferroni", "holm", "fdr_bh")
# Reading value counts is cheap while a column has few distinct values; beyond this the exact count of distinct
# values does not matter (every Evidently rule switches at 20 or fewer).
_FEW_VALUES = 1000


@dataclass(frozen=True)
class Aggregates:
    """What one column reduces to; every drift method is a pure function of this.

    ``values``/``value_ref``/``value_cur``: counts per distinct value (only when there are few values or the column is
    categorical). ``bins_ref``/``bins_cur``: counts in Sturges equal-width bins over both sides (``bin_edges``).
    ``cdf_ref``/``cdf_cur``: empirical CDFs at ``cdf_x`` (exact merged sorted values when ``cdf_exact``).
    """

    column: str
    kind: str
    n_reference: int
    n_current: int
    n_unique_reference: int
    n_unique: int
    std_reference: float | None = None
    values: tuple[Any, ...] | None = None
    value_ref: np.ndarray | None = None
    value_cur: np.ndarray | None = None
    bin_edges: np.ndarray | None = None
    bins_ref: np.ndarray | None = None
    bins_cur: np.ndarray | None = None
    cdf_x: np.ndarray | None = None
    cdf_ref: np.ndarray | None = None
    cdf_cur: np.ndarray | None = None
    cdf_exact: bool = True


@dataclass(frozen=True)
class DriftMethod:
    """One registered drift method."""

    name: str
    title: str
    kinds: tuple[str, ...]
    default_threshold: float
    p_value: bool
    needs: str  # "cdf" | "binned" | "values"
    func: Callable[[Aggregates], float]
    help: str
    inclusive: bool = False  # p-value methods: drifted when p <= threshold (K-S, as Evidently) or p < threshold

    def drifted(self, value: float, threshold: float) -> bool:
        """Whether ``value`` means drift at ``threshold``."""
        if self.p_value:
            return bool(value <= threshold) if self.inclusive else bool(value < threshold)
        return bool(value >= threshold)


# -- pure functions of the aggregates ------------------------------------------------------------------------


def _fill_zeros(p: np.ndarray) -> np.ndarray:
    # Evidently's rule: empty bins get min(nonzero)/1e6 when that minimum is ≤ 1e-4, else 1e-4.
    p = p.astype(float).copy()
    nonzero = p[p != 0]
    if nonzero.size:
        smallest = float(nonzero.min())
        p[p == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return p


def binned_shares(agg: Aggregates, fill_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current shares per Sturges bin (numeric, > 20 reference values) or per value."""
    if agg.kind == NUMERIC and agg.n_unique_reference > 20:
        assert agg.bins_ref is not None and agg.bins_cur is not None
        ref, cur = agg.bins_ref / agg.n_reference, agg.bins_cur / agg.n_current
    else:
        assert agg.value_ref is not None and agg.value_cur is not None
        ref, cur = agg.value_ref / agg.n_reference, agg.value_cur / agg.n_current
    if fill_zeros:
        ref, cur = _fill_zeros(ref), _fill_zeros(cur)
    return ref, cur


def psi(agg: Aggregates) -> float:
    """Population stability index over Evidently's bins, empty bins filled."""
    ref, cur = binned_shares(agg, True)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def jensen_shannon(agg: Aggregates) -> float:
    """Jensen-Shannon distance (natural log) over Evidently's bins."""
    ref, cur = binned_shares(agg, False)
    return float(distance.jensenshannon(ref, cur))


def _cdf_gap(agg: Aggregates) -> np.ndarray:
    assert agg.cdf_ref is not None and agg.cdf_cur is not None
    return agg.cdf_ref - agg.cdf_cur


def wasserstein_raw(agg: Aggregates) -> float:
    """First Wasserstein distance from the CDFs: exact sum over merged values, or linear within histogram bins."""
    assert agg.cdf_x is not None
    gap = _cdf_gap(agg)
    dx = np.diff(agg.cdf_x)
    if agg.cdf_exact:
        return float(np.sum(np.abs(gap[:-1]) * dx))
    # CDFs at bin edges; inside a bin both are linear, so |gap| is integrated exactly for a linear gap.
    d0, d1 = gap[:-1], gap[1:]
    same = d0 * d1 >= 0
    a0, a1 = np.abs(d0), np.abs(d1)
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(a0 + a1 > 0, (d0**2 + d1**2) / (2 * (a0 + a1)), 0.0)
    return float(np.sum(np.where(same, (a0 + a1) / 2, crossing) * dx))


def wasserstein_normed(agg: Aggregates) -> float:
    """Wasserstein distance divided by the reference standard deviation (at least 0.001), as Evidently."""
    return wasserstein_raw(agg) / max(float(agg.std_reference or 0.0), 0.001)


def ks_statistic(agg: Aggregates) -> float:
    """The two-sample Kolmogorov-Smirnov statistic D."""
    gap = _cdf_gap(agg)
    return float(max(np.max(gap), np.clip(-np.min(gap), 0, 1)))


def ks_p_value(d: float, n1: int, n2: int) -> float:
    """Two-sided p-value of D for sample sizes n1, n2, following scipy's ``ks_2samp(method='auto')``."""
    if max(n1, n2) <= 10000:
        # scipy's exact path has no public entry point that takes D; use it when present, else the asymptotic one.
        exact = getattr(stats._stats_py, "_attempt_exact_2kssamp", None)
        if exact is not None:
            ok, _, prob = exact(n1, n2, math.gcd(n1, n2), d, "two-sided")
            if ok:
                return float(np.clip(prob, 0, 1))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def ks_test(agg: Aggregates) -> float:
    """K-S p-value (scipy's conventions, no multiple-testing correction)."""
    return ks_p_value(ks_statistic(agg), agg.n_reference, agg.n_current)


def chi_square(agg: Aggregates) -> float:
    """Chi-square p-value of current counts against reference shares scaled to the current size."""
    assert agg.value_ref is not None and agg.value_cur is not None
    f_exp = agg.value_ref * (agg.n_current / agg.n_reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(agg.value_cur, f_exp)[1])


def z_test(agg: Aggregates) -> float:
    """Two-proportion Z-test p-value for a column with at most two values (Evidently's convention)."""
    assert agg.values is not None and agg.value_ref is not None and agg.value_cur is not None
    ref_vals = {v for v, c in zip(agg.values, agg.value_ref, strict=True) if c}
    cur_vals = {v for v, c in zip(agg.values, agg.value_cur, strict=True) if c}
    if len(ref_vals) == 1 and ref_vals == cur_vals:
        return 1.0
    first = sorted(range(len(agg.values)), key=lambda i: agg.values[i])[0]
    n1, n2 = agg.n_reference, agg.n_current
    p1 = float(n1 - agg.value_ref[first]) / n1
    p2 = float(n2 - agg.value_cur[first]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


METHODS: tuple[DriftMethod, ...] = (
    DriftMethod("ks", "K-S p_value", (NUMERIC,), 0.05, True, "cdf", ks_test,
                "Kolmogorov-Smirnov two-sample test; drift when p ≤ threshold. Over-sensitive on large samples.",
                inclusive=True),
    DriftMethod("wasserstein", "Wasserstein distance (normed)", (NUMERIC,), 0.1, False, "cdf", wasserstein_normed,
                "Earth mover's distance in units of the reference standard deviation; drift when ≥ threshold."),
    DriftMethod("chisquare", "chi-square p_value", (CATEGORICAL, NUMERIC), 0.05, True, "values", chi_square,
                "Pearson chi-square of current counts against reference shares; drift when p < threshold."),
    DriftMethod("z", "Z-test p_value", (CATEGORICAL, NUMERIC), 0.05, True, "values", z_test,
                "Two-proportion Z-test for two-valued columns; drift when p < threshold."),
    DriftMethod("jensenshannon", "Jensen-Shannon distance", (CATEGORICAL, NUMERIC), 0.1, False, "binned",
                jensen_shannon, "Jensen-Shannon distance of the binned shares (natural log); drift when ≥ threshold."),
    DriftMethod("psi", "PSI", (CATEGORICAL, NUMERIC), 0.1, False, "binned", psi,
                "Population stability index over Sturges bins (credit-risk convention 0.1 / 0.25); drift when ≥ threshold."),
)
METHODS_BY_NAME: dict[str, DriftMethod] = {m.name: m for m in METHODS}


def method(name: str) -> DriftMethod:
    """The registered drift method called ``name``."""
    try:
        return METHODS_BY_NAME[name]
    except KeyError:
        raise InputError(f"unknown drift method {name!r} (known: {', '.join(METHODS_BY_NAME)})") from None


def default_method(kind: str, n_reference: int, n_unique: int) -> str:
    """Evidently's default method for a column of ``kind`` with these sizes."""
    if n_reference <= 1000:
        if kind == NUMERIC and n_unique > 5:
            return "ks"
        return "chisquare" if n_unique > 2 else "z"
    if kind == NUMERIC and n_unique > 5:
        return "wasserstein"
    return "jensenshannon"


# -- configuration and results --------------------------------------------------------------------------------


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
        correction=d.get("correction"), seconds=d.get("seconds", 0.0),
    )


# -- SQL: the aggregates ---------------------------------------------------------------------------------------


def _side_stats(
    con: duckdb.DuckDBPyConnection, table: str, cols: Sequence[tuple[str, str]], *, reference: bool
) -> dict[str, dict[str, Any]]:
    """Per column non-null count, nulls, min and max (one scan; Parquet answers these from its metadata), plus
    for the reference side an estimate of the number of distinct values.

    NaN and ±inf show up as a non-finite min or max; such a column is measured again without them, as Evidently
    drops them. The distinct estimate comes from the first 200,000 rows: it only decides whether exact value
    counts are cheap, and the value counts themselves are always exact.
    """
    if not cols:
        return {}
    parts: list[str] = ["count(*)"]
    for col, kind in cols:
        q = quote(col)
        if kind == NUMERIC:
            parts += [f"count({q})", f"min({q})", f"max({q})", "NULL"]
        else:
            parts += [f"count({q})", "NULL", "NULL", "NULL"]
    total, *row = con.execute(f"SELECT {', '.join(parts)} FROM {table}").fetchall()[0]
    approx: list[Any] = [None] * len(cols)
    if reference:
        approx = list(con.execute(
            "SELECT " + ", ".join(f"approx_count_distinct({quote(c)})" for c, _ in cols)
            + f" FROM (SELECT * FROM {table} LIMIT 200000) s"
        ).fetchall()[0])
    out: dict[str, dict[str, Any]] = {}
    for i, (col, kind) in enumerate(cols):
        n, lo, hi, std = row[i * 4:(i + 1) * 4]
        nonfinite = 0
        if kind == NUMERIC and n and not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
            x = f"{quote(col)}::DOUBLE"
            n, lo, hi, nonfinite = con.execute(
                f"SELECT count({x}) FILTER (WHERE isfinite({x})), min({x}) FILTER (WHERE isfinite({x})), "
                f"max({x}) FILTER (WHERE isfinite({x})), count(*) FILTER (WHERE NOT isfinite({x})) FROM {table}"
            ).fetchall()[0]
        out[col] = {"n": int(n), "nulls": int(total) - int(n) - int(nonfinite),
                    "min": None if lo is None or kind != NUMERIC else float(lo),
                    "max": None if hi is None or kind != NUMERIC else float(hi),
                    "std": None if std is None else float(std), "approx": approx[i],
                    "nonfinite": int(nonfinite)}
    return out


def _values_sql(table: str, col: str, kind: str, nonfinite: int) -> str:
    """The non-null (and, for numbers, finite) values of one column of one table, as ``x``."""
    q = quote(col)
    if kind == NUMERIC:
        x = f"{q}::DOUBLE"
        where = f"isfinite({x})" if nonfinite else f"{q} IS NOT NULL"
        return f"(SELECT {x} AS x FROM {table} WHERE {where})"
    return f"(SELECT {q}::VARCHAR AS x FROM {table} WHERE {q} IS NOT NULL)"


def _value_counts(
    con: duckdb.DuckDBPyConnection, ref_sql: str, cur_sql: str
) -> tuple[tuple[Any, ...], np.ndarray, np.ndarray]:
    """Counts per distinct value on each side (one GROUP BY per side), merged on the sorted union of values."""
    sides = []
    for sql in (ref_sql, cur_sql):
        rows = con.execute(f"SELECT x, count(*) AS n FROM {sql} v GROUP BY x").fetchnumpy()
        sides.append((np.asarray(rows["x"]), np.asarray(rows["n"], dtype=np.int64)))
    (rx, rn), (cx, cn) = sides
    if rx.dtype.kind in "fiu" and cx.dtype.kind in "fiu":
        values = np.union1d(rx, cx)
        vref = np.zeros(len(values), dtype=np.int64)
        vcur = np.zeros(len(values), dtype=np.int64)
        vref[np.searchsorted(values, rx)] = rn
        vcur[np.searchsorted(values, cx)] = cn
        return tuple(values.tolist()), vref, vcur
    ref_map = dict(zip(rx.tolist(), rn.tolist(), strict=True))
    cur_map = dict(zip(cx.tolist(), cn.tolist(), strict=True))
    keys = tuple(sorted(set(ref_map) | set(cur_map)))
    return (keys, np.array([ref_map.get(k, 0) for k in keys], dtype=np.int64),
            np.array([cur_map.get(k, 0) for k in keys], dtype=np.int64))


def sturges_edges(lo: float, hi: float, n: int, integer: bool) -> np.ndarray:
    """``numpy.histogram_bin_edges(a, bins='sturges')`` from the min, max and size of ``a`` alone."""
    first, last = float(lo), float(hi)
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = (float(hi) - float(lo)) / (np.log2(n) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        bins = int(np.ceil((last - first) / width))
    else:
        bins = 1
    return np.linspace(first, last, bins + 1, endpoint=True)


def _histograms(
    con: duckdb.DuckDBPyConnection, side_sql: str, edges: np.ndarray, per_bin: int, *, moments: bool = False
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float] | None]:
    """Counts of one side per Sturges bin (exactly numpy's bins: half-open, the last closed) and per fine bin,
    and optionally (n, Σ(x-lo), Σ(x-lo)²) for the standard deviation, all from one ``GROUP BY``.

    The fine grid splits every Sturges bin into ``per_bin`` equal parts, so one ``floor`` per row is the only
    per-row work in SQL (a single integer key, clamped in Python: DuckDB runs that several times faster than
    comparing each row with its bin's edges). Rounding may put a value lying within ~1e-15 of a Sturges edge on the
    wrong side: the min and max of the fine bins next to each edge show it, and only then are the values around
    that edge fetched and re-binned with numpy's own rule.
    """
    nb = len(edges) - 1
    lo, hi = float(edges[0]), float(edges[-1])
    total = nb * per_bin
    scale = total / (hi - lo)
    extra = ", sum(x - $lo) AS s1, sum((x - $lo) * (x - $lo)) AS s2" if moments else ""
    rows = con.execute(
        f"SELECT floor((x - $lo) * $k)::INTEGER AS f, count(*) AS n, min(x) AS lo, max(x) AS hi{extra} "
        f"FROM {side_sql} v GROUP BY ALL",
        {"lo": lo, "k": scale},
    ).fetchnumpy()
    f = np.clip(np.asarray(rows["f"], dtype=np.int64), 0, total - 1)  # x = max lands on `total`: the last bin
    fine = np.bincount(f, weights=np.asarray(rows["n"]), minlength=total)[:total]
    sturges = fine.reshape(nb, per_bin).sum(axis=1)
    bin_min = np.full(total, np.inf)
    bin_max = np.full(total, -np.inf)
    np.minimum.at(bin_min, f, np.asarray(rows["lo"], dtype=float))
    np.maximum.at(bin_max, f, np.asarray(rows["hi"], dtype=float))
    suspect = [i for i in range(1, nb)
               if bin_max[i * per_bin - 1] >= edges[i] or bin_min[i * per_bin] < edges[i]]
    if suspect:
        band = 1e-9 * (hi - lo)
        params: dict[str, Any] = {}
        conds = []
        for j, i in enumerate(suspect):
            params[f"a{j}"], params[f"b{j}"] = float(edges[i]) - band, float(edges[i]) + band
            conds.append(f"(x BETWEEN $a{j} AND $b{j})")
        near = np.asarray(con.execute(f"SELECT x FROM {side_sql} v WHERE {' OR '.join(conds)}", params)
                          .fetchnumpy()["x"], dtype=float)
        # the bin SQL gave them (same IEEE arithmetic, same clamp) and the bin numpy gives them
        given = np.clip(np.floor((near - lo) * scale), 0, total - 1).astype(np.int64) // per_bin
        right = np.clip(np.searchsorted(edges, near, side="right") - 1, 0, nb - 1)
        np.subtract.at(sturges, given, 1)
        np.add.at(sturges, right, 1)
    stats = None
    if moments:
        stats = (float(np.sum(rows["n"])), float(np.sum(rows["s1"])), float(np.sum(rows["s2"])))
    return sturges, fine, stats


def _weighted_std(x: np.ndarray, counts: np.ndarray) -> float:
    """Population standard deviation of values ``x`` repeated ``counts`` times (two passes, as numpy)."""
    n = counts.sum()
    mean = float(np.dot(x, counts) / n)
    return float(np.sqrt(np.dot(counts, (x - mean) ** 2) / n))


def _cdf_from_counts(x: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return x, np.cumsum(ref) / ref.sum(), np.cumsum(cur) / cur.sum()


# -- the engine ------------------------------------------------------------------------------------------------


def _infer_kind(info: TableInfo, col: str) -> str | None:
    t = info.columns[col].upper()
    if t in ("NULL", '"NULL"'):  # an all-null DataFrame column; reported as all null, not as a type problem
        return CATEGORICAL
    if info.is_numeric(col):
        return NUMERIC
    if t.startswith(("VARCHAR", "BOOLEAN", "ENUM")) or t == "TEXT":
        return CATEGORICAL
    return None


def compute_drift(
    con: duckdb.DuckDBPyConnection,
    reference: TableInfo,
    current: TableInfo,
    config: DriftConfig = DriftConfig(),
    *,
    progress: ProgressFn = no_progress,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column.

    Args:
        con: the connection both tables are registered in (see :mod:`governance.analytics.io`).
        reference: the reference table (training or validation data).
        current: the current table (monitoring data or an uploaded file).
        config: methods, thresholds, column types, correction and exactness limits.
        progress: called with a message and a fraction in [0, 1].

    Returns:
        A :class:`DriftResult`; columns missing on one side are listed, not compared.

    Raises:
        InputError: a side has no rows, or no column can be compared.
    """
    started = time.perf_counter()
    for info, side in ((reference, "reference"), (current, "current")):
        if info.rows == 0:
            raise InputError(f"the {side} data ({info.source}) has no rows")
    ref_cols, cur_cols = list(reference.columns), set(current.columns)
    wanted = list(config.columns) if config.columns is not None else ref_cols + [c for c in current.columns
                                                                                    if c not in reference.columns]
    unknown = [c for c in wanted if c not in reference.columns and c not in cur_cols]
    if unknown:
        raise InputError(f"column(s) {', '.join(map(repr, unknown))} are in neither file")
    wanted = [c for c in wanted if c not in set(config.exclude)]
    missing_in_current = tuple(c for c in wanted if c not in cur_cols)
    missing_in_reference = tuple(c for c in wanted if c not in reference.columns)
    common = [c for c in wanted if c in cur_cols and c in reference.columns]

    skipped: list[tuple[str, str]] = []
    kinds: list[tuple[str, str]] = []
    for col in common:
        forced = config.column_types.get(col)
        kr, kc = _infer_kind(reference, col), _infer_kind(current, col)
        if forced:
            kinds.append((col, forced))
        elif kr is None or kc is None:
            skipped.append((col, f"type {reference.columns[col]} / {current.columns[col]} is neither numeric nor "
                                 "text; set its column type to compare it"))
        elif kr != kc:
            skipped.append((col, f"numeric on one side and text on the other ({reference.columns[col]} vs "
                                 f"{current.columns[col]}); fix the file or set the column type"))
        else:
            kinds.append((col, kr))
    progress("reading column statistics", 0.02)
    rstats = _side_stats(con, reference.name, kinds, reference=True)
    cstats = _side_stats(con, current.name, kinds, reference=False)

    results: list[ColumnDrift] = []
    for i, (col, kind) in enumerate(kinds):
        progress(f"column {col}", 0.05 + 0.9 * i / max(len(kinds), 1))
        rs, cs = rstats[col], cstats[col]
        if rs["n"] == 0 or cs["n"] == 0:
            side = "reference" if rs["n"] == 0 else "current"
            skipped.append((col, f"all values are null (or not finite) in the {side} data"))
            continue
        results.append(_column(con, reference, current, col, kind, rs, cs, config))

    if not results:
        reasons = "; ".join(f"{c}: {r}" for c, r in skipped) or "no column is present on both sides"
        raise InputError(f"no column could be compared ({reasons})")
    if config.correction:
        results = _apply_correction(results, config)
    drifted = sum(c.drifted for c in results)
    share = drifted / len(results)
    progress("done", 1.0)
    return DriftResult(
        columns=tuple(results), drift_share=share, dataset_drifted=bool(share >= config.drift_share),
        drift_share_threshold=config.drift_share, n_reference=reference.rows, n_current=current.rows,
        missing_in_current=missing_in_current, missing_in_reference=missing_in_reference, skipped=tuple(skipped),
        correction=config.correction, seconds=time.perf_counter() - started,
    )


def _column(
    con: duckdb.DuckDBPyConnection, reference: TableInfo, current: TableInfo, col: str, kind: str,
    rs: dict[str, Any], cs: dict[str, Any], config: DriftConfig,
) -> ColumnDrift:
    ref_sql = _values_sql(reference.name, col, kind, rs["nonfinite"])
    cur_sql = _values_sql(current.name, col, kind, cs["nonfinite"])
    n_ref, n_cur = rs["n"], cs["n"]
    values: tuple[Any, ...] | None = None
    vref = vcur = None
    if kind == CATEGORICAL or (rs["approx"] or 0) <= _FEW_VALUES:
        values, vref, vcur = _value_counts(con, ref_sql, cur_sql)
        n_unique_ref, n_unique = int((vref > 0).sum()), len(values)
    else:  # the reference has far more than 20 distinct values; the exact number changes no rule
        n_unique_ref = n_unique = int(rs["approx"])

    name = config.methods.get(col) or (config.num_method if kind == NUMERIC else config.cat_method)
    name = name or default_method(kind, n_ref, n_unique)
    m = method(name)
    if kind not in m.kinds:
        raise InputError(f"method {name!r} does not apply to {kind} column {col!r} (it takes {', '.join(m.kinds)})")
    threshold = float(config.thresholds.get(col, m.default_threshold))
    if m.needs == "values" and values is None:  # a value-count test chosen for a many-valued column
        values, vref, vcur = _value_counts(con, ref_sql, cur_sql)

    need_bins = kind == NUMERIC and n_unique_ref > 20
    need_cdf = m.needs == "cdf"
    exact = True
    edges = bref = bcur = cx = cref = ccur = None
    per_bin = 1
    if need_bins:
        integer = reference.is_integer(col) and current.is_integer(col) and rs["nulls"] == 0 and cs["nulls"] == 0
        edges = sturges_edges(min(rs["min"], cs["min"]), max(rs["max"], cs["max"]), n_ref + n_cur, integer)
        per_bin = max(1, -(-config.hist_bins // (len(edges) - 1)))
    std_ref: float | None = None
    moments: tuple[float, float, float] | None = None
    merged: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    if need_cdf:
        if values is not None:
            cx, cref, ccur = _cdf_from_counts(np.asarray(values, dtype=float), vref, vcur)
        elif n_ref + n_cur <= config.exact_max_rows:
            mvals, mref, mcur = _value_counts(con, ref_sql, cur_sql)
            merged = (np.asarray(mvals, dtype=float), mref, mcur)
            cx, cref, ccur = _cdf_from_counts(*merged)
        else:
            exact = False
    if need_bins and values is not None:
        # exact counts are at hand: bin them in numpy, no further scan
        assert edges is not None and vref is not None and vcur is not None
        x = np.asarray(values, dtype=float)
        bref = np.histogram(x, edges, weights=vref)[0].astype(np.int64)
        bcur = np.histogram(x, edges, weights=vcur)[0].astype(np.int64)
    elif need_bins or not exact:
        if edges is None:  # K-S/Wasserstein on a column binned by value: a plain fine grid
            edges = np.linspace(min(rs["min"], cs["min"]), max(rs["max"], cs["max"]), 2)
            per_bin = config.hist_bins
        if edges[-1] == edges[0]:
            edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
        want_moments = name == "wasserstein" and values is None and merged is None
        bref, fref, moments = _histograms(con, ref_sql, edges, per_bin, moments=want_moments)
        bcur, fcur, _ = _histograms(con, cur_sql, edges, per_bin)
        if not exact:
            cx = np.linspace(float(edges[0]), float(edges[-1]), len(fref) + 1)
            cref = np.concatenate([[0.0], np.cumsum(fref) / n_ref])
            ccur = np.concatenate([[0.0], np.cumsum(fcur) / n_cur])
        if not need_bins:
            bref = bcur = None
    if name == "wasserstein":
        if values is not None:
            assert vref is not None
            std_ref = _weighted_std(np.asarray(values, dtype=float), vref)
        elif merged is not None:
            std_ref = _weighted_std(merged[0], merged[1])
        else:
            assert moments is not None
            n, s1, s2 = moments
            # shifted by the bin origin (the minimum), so the one-pass formula keeps ~1e-12 precision
            std_ref = math.sqrt(max(s2 / n - (s1 / n) ** 2, 0.0))

    agg = Aggregates(
        column=col, kind=kind, n_reference=n_ref, n_current=n_cur, n_unique_reference=n_unique_ref,
        n_unique=n_unique, std_reference=std_ref, values=values, value_ref=vref, value_cur=vcur,
        bin_edges=edges, bins_ref=bref, bins_cur=bcur, cdf_x=cx, cdf_ref=cref, cdf_cur=ccur, cdf_exact=exact,
    )
    score = m.func(agg)
    return ColumnDrift(
        column=col, column_type=kind, method=name, score=score, threshold=threshold,
        drifted=m.drifted(score, threshold), psi=psi(agg), n_reference=n_ref, n_current=n_cur,
        nulls_reference=rs["nulls"], nulls_current=cs["nulls"], exact=exact,
        ks_statistic=ks_statistic(agg) if need_cdf else None, chart=_chart_data(agg),
    )


def _chart_data(agg: Aggregates, top: int = 30) -> dict[str, Any]:
    """Shares per bin or per value (top values by combined count) for the column chart."""
    if agg.kind == NUMERIC and agg.n_unique_reference > 20 and agg.bin_edges is not None:
        ref, cur = binned_shares(agg, False)
        e = agg.bin_edges
        return {"type": "bins", "lower": e[:-1].tolist(), "upper": e[1:].tolist(),
                "reference": ref.tolist(), "current": cur.tolist()}
    ref, cur = binned_shares(agg, False)
    assert agg.values is not None
    order = np.argsort(-(ref + cur), kind="stable")[:top]
    return {"type": "values", "values": [str(agg.values[i]) for i in order],
            "reference": ref[order].tolist(), "current": cur[order].tolist(),
            "other_values": max(0, len(agg.values) - top)}


def adjust_p_values(p: Sequence[float], how: str) -> np.ndarray:
    """Adjusted p-values: Bonferroni, Holm step-down or Benjamini-Hochberg (``fdr_bh``)."""
    p_arr = np.asarray(p, dtype=float)
    m = len(p_arr)
    if m == 0:
        return p_arr
    if how == "bonferroni":
        return np.minimum(p_arr * m, 1.0)
    order = np.argsort(p_arr, kind="stable")
    ranked = p_arr[order]
    if how == "holm":
        adj = np.minimum(1.0, np.maximum.accumulate(ranked * (m - np.arange(m))))
    elif how == "fdr_bh":
        adj = np.minimum(1.0, np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1])
    else:
        raise InputError(f"unknown correction {how!r} (known: {', '.join(CORRECTIONS)})")
    out = np.empty(m)
    out[order] = adj
    return out


def _apply_correction(results: list[ColumnDrift], config: DriftConfig) -> list[ColumnDrift]:
    idx = [i for i, c in enumerate(results) if METHODS_BY_NAME[c.method].p_value]
    if not idx:
        return results
    assert config.correction is not None
    adjusted = adjust_p_values([results[i].score for i in idx], config.correction)
    out = list(results)
    for i, p in zip(idx, adjusted, strict=True):
        c = results[i]
        m = METHODS_BY_NAME[c.method]
        out[i] = _replace(c, p_value_adjusted=float(p), drifted=m.drifted(float(p), c.threshold))
    return out


def _replace(c: ColumnDrift, **changes: Any) -> ColumnDrift:
    from dataclasses import replace

    return replace(c, **changes)


def drift_files(
    reference: Any, current: Any, config: DriftConfig = DriftConfig(), *, progress: ProgressFn = no_progress
) -> DriftResult:
    """:func:`compute_drift` on two files or DataFrames (CSV, Parquet, Arrow)."""
    from governance.analytics.io import opened

    with opened(ref=reference, cur=current) as (con, infos):
        return compute_drift(con, infos["ref"], infos["cur"], config, progress=progress)


# -- Evidently's interactive report on a bounded sample ------------------------------------------------------------


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
    definition = DataDefinition(
        numerical_columns=[_inert(c.column) for c in result.columns if c.column_type == NUMERIC],
        categorical_columns=[_inert(c.column) for c in result.columns if c.column_type == CATEGORICAL],
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


# Evidently's report card clips what is wider than the window (overflow hidden): let it scroll sideways instead
_FIT_WIDTH = "<style>.MuiPaper-root{overflow-x:auto !important}</style>"


def _fit_width(html: str) -> str:
    """The report with :data:`_FIT_WIDTH` as the first thing in its ``<head>`` (unchanged if it has none)."""
    at = html.find("<head>")
    return html if at < 0 else html[:at + len("<head>")] + _FIT_WIDTH + html[at + len("<head>"):]
