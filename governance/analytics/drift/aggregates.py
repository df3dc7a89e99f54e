"""The aggregate SQL: every query drift runs, batched so that a comparison costs a handful of statements whatever the
number of columns.

This module alone speaks SQL. It is written once in DuckDB's dialect, restricted to what SQLGlot transpiles to Spark,
Trino and Athena unchanged in meaning (``CAST``, ``GROUP BY`` a named key, ``CASE`` instead of ``FILTER``, a range
test instead of ``isfinite``, ``UNION ALL`` of per-column aggregates), and runs through an
:class:`~governance.analytics.engines.Engine`: DuckDB here, Spark where large monitoring data lives.

Two routes, chosen by size (:attr:`~governance.analytics.drift.results.DriftConfig.exact_max_rows`):

* **exact** (small data): per side one statement returns the present values of the numeric columns (missing ones as
  NULL) and one the value counts of the categorical columns; order statistics, bins and moments are then exact in
  numpy. The rows returned are bounded by ``exact_max_rows``, as the distinct values the exact order statistics need
  would be.
* **binned** (large data): per side one statement of count/min/max (Parquet answers it from its metadata), one of
  value counts (categorical and few-valued numeric columns), one of fine histograms on shared edges (count, min, max
  per bin, and two sums on the reference side for the standard deviation); only aggregates come back.

Missing values follow :mod:`governance.analytics.contract`: NULL, NaN and ±inf are all missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from governance.analytics.contract import FINITE, present_sql
from governance.analytics.engines import Engine, columns, rows, to_numpy
from governance.analytics.io import quote

# Reading value counts is cheap while a column has few distinct values; beyond this the exact count of distinct
# values does not matter (every Evidently rule switches at 20 or fewer).
FEW_VALUES = 1000
# the exact route fetches the present values of at most this many cells per statement (columns are split)
CELLS_PER_FETCH = 8_000_000


@dataclass(frozen=True)
class Col:
    """A column to aggregate on one side: its name, its SQL type on that side, and ``numeric`` or ``categorical``."""

    name: str
    sql_type: str
    numeric: bool

    @property
    def q(self) -> str:
        return quote(self.name)

    @property
    def present(self) -> str:
        """'The value is present' (not NULL, NaN or ±inf) in SQL."""
        return present_sql(self.q, self.sql_type)

    @property
    def x(self) -> str:
        """The value as the comparison reads it: a double, or text."""
        return f"CAST({self.q} AS DOUBLE)" if self.numeric else f"CAST({self.q} AS VARCHAR)"


@dataclass
class Side:
    """What one column of one side reduces to. ``n`` counts present values, ``missing`` NULL, NaN and ±inf.

    ``values``/``counts``: sorted distinct present values with their counts (numbers or text), when known;
    ``raw``: every present value (exact route); ``lo``/``hi``: the finite min and max of a numeric column;
    ``distinct``: an estimate of the number of distinct values (binned route).
    """

    n: int
    missing: int
    lo: float | None = None
    hi: float | None = None
    values: np.ndarray | None = None
    counts: np.ndarray | None = None
    raw: np.ndarray | None = None
    distinct: int | None = None


# -- SQL ---------------------------------------------------------------------------------------------------------


def raw_sql(table: str, cols: Sequence[Col]) -> str:
    """The present values of numeric columns as doubles (a missing one as NULL), ``c0``, ``c1``, …"""
    return "SELECT " + ", ".join(f"CASE WHEN {c.present} THEN {c.x} END AS c{i}" for i, c in enumerate(cols)) + \
        f" FROM {table}"


def value_counts_sql(table: str, cols: Sequence[tuple[int, Col]]) -> str:
    """Counts per distinct present value of each column, one ``UNION ALL`` branch per column: ``c`` (the column's
    number), ``vd`` (a numeric value) or ``vt`` (a text value), ``n``."""
    parts = []
    for i, c in cols:
        key = ("x AS vd, CAST(NULL AS VARCHAR) AS vt" if c.numeric else "CAST(NULL AS DOUBLE) AS vd, x AS vt")
        parts.append(f"SELECT {i} AS c, {key}, count(*) AS n FROM (SELECT {c.x} AS x FROM {table} "
                     f"WHERE {c.present}) v GROUP BY x")
    return " UNION ALL ".join(parts)


def side_stats_sql(table: str, cols: Sequence[Col]) -> str:
    """One scan of ``table`` (Parquet answers it from its metadata): the row count, then per column the non-null
    count, and for numbers the min and max (NaN hides from Parquet statistics; it is found later)."""
    parts: list[str] = ["count(*) AS c0"]
    for c in cols:
        exprs = [f"count({c.q})", f"min({c.x})", f"max({c.x})"] if c.numeric else [f"count({c.q})", "NULL", "NULL"]
        parts += [f"{e} AS c{len(parts) + i}" for i, e in enumerate(exprs)]
    return f"SELECT {', '.join(parts)} FROM {table}"


def finite_stats_sql(table: str, cols: Sequence[Col]) -> str:
    """Count, min and max of the finite values of numeric columns whose min or max was NaN or ±inf."""
    parts = []
    for i, c in enumerate(cols):
        fin = f"{c.x} {FINITE}"
        parts += [f"count(CASE WHEN {fin} THEN 1 END) AS n{i}", f"min(CASE WHEN {fin} THEN {c.x} END) AS lo{i}",
                  f"max(CASE WHEN {fin} THEN {c.x} END) AS hi{i}"]
    return f"SELECT {', '.join(parts)} FROM {table}"


def distinct_sql(table: str, cols: Sequence[Col]) -> str:
    """Estimated distinct values per column on the first 200,000 rows (it only decides whether value counts are cheap)."""
    return ("SELECT " + ", ".join(f"approx_count_distinct({c.q}) AS d{i}" for i, c in enumerate(cols))
            + f" FROM (SELECT * FROM {table} LIMIT 200000) s")


def histogram_sql(table: str, cols: Sequence[tuple[int, Col]], *, moments: bool = False) -> str:
    """Per column count, min and max per fine bin ``floor((x - $loI) * $kI)`` of the values in ``[$loI, $hiI]``
    (NaN and ±inf fall outside), and with ``moments`` Σ(x-lo), Σ(x-lo)² per bin; one ``UNION ALL`` branch per column."""
    parts = []
    for i, c in cols:
        sums = (f"sum(x - $lo{i}) AS s1, sum((x - $lo{i}) * (x - $lo{i})) AS s2" if moments
                else "CAST(NULL AS DOUBLE) AS s1, CAST(NULL AS DOUBLE) AS s2")
        parts.append(f"SELECT {i} AS c, f, count(*) AS n, min(x) AS lo, max(x) AS hi, {sums} "
                     f"FROM (SELECT CAST(floor((x - $lo{i}) * $k{i}) AS INTEGER) AS f, x FROM (SELECT {c.x} AS x "
                     f"FROM {table} WHERE {c.x} BETWEEN $lo{i} AND $hi{i}) v) h GROUP BY f")
    return " UNION ALL ".join(parts)


def near_edges_sql(table: str, cols: Sequence[tuple[int, Col, int]]) -> str:
    """The values within ``[$aI_J, $bI_J]`` (next to a bin edge) of each column ``I`` with ``J`` edges to look at."""
    parts = []
    for i, c, edges in cols:
        near = " OR ".join(f"(x BETWEEN $a{i}_{j} AND $b{i}_{j})" for j in range(edges))
        parts.append(f"SELECT {i} AS c, x FROM (SELECT {c.x} AS x FROM {table}) v WHERE {near}")
    return " UNION ALL ".join(parts)


# -- reading the aggregates -----------------------------------------------------------------------------------------


def fetch_present(engine: Engine, table: str, cols: Sequence[Col], n_rows: int) -> dict[str, np.ndarray]:
    """Every present value of each numeric column (exact route), in as few statements as memory allows."""
    per = max(1, CELLS_PER_FETCH // max(n_rows, 1))
    out: dict[str, np.ndarray] = {}
    for start in range(0, len(cols), per):
        chunk = list(cols[start:start + per])
        table_ = engine.arrow(raw_sql(table, chunk))
        for i, c in enumerate(chunk):
            arr = to_numpy(table_.column(i)).astype(float, copy=False)
            out[c.name] = arr[~np.isnan(arr)]
    return out


def value_counts(engine: Engine, table: str, cols: Sequence[Col]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sorted distinct present values and their counts per column (one statement for all columns)."""
    if not cols:
        return {}
    got = columns(engine, value_counts_sql(table, list(enumerate(cols))))
    which = np.asarray(got["c"], dtype=np.int64)
    counts = np.asarray(got["n"], dtype=np.int64)
    out = {}
    for i, c in enumerate(cols):
        sel = which == i
        keys = np.asarray(got["vd"], dtype=float)[sel] if c.numeric else np.asarray(got["vt"], dtype=object)[sel]
        order = np.argsort(keys, kind="stable")
        out[c.name] = (keys[order], counts[sel][order])
    return out


def merge_counts(ref: tuple[np.ndarray, np.ndarray], cur: tuple[np.ndarray, np.ndarray]
                 ) -> tuple[tuple[Any, ...], np.ndarray, np.ndarray]:
    """Two sides' value counts on the sorted union of their values."""
    (rx, rn), (cx, cn) = ref, cur
    values = np.union1d(rx, cx) if rx.dtype.kind in "fiu" else np.array(sorted(set(rx.tolist()) | set(cx.tolist())),
                                                                         dtype=object)
    vref = np.zeros(len(values), dtype=np.int64)
    vcur = np.zeros(len(values), dtype=np.int64)
    vref[np.searchsorted(values, rx)] = rn
    vcur[np.searchsorted(values, cx)] = cn
    return tuple(values.tolist()), vref, vcur


_FOOTER_TYPES = ("DOUBLE", "FLOAT", "INT32", "INT64")


def parquet_ranges(path: Path, cols: Sequence[Col]) -> dict[str, tuple[int, float, float]]:
    """(non-null count, min, max) of numeric columns from a Parquet file's footer, where every row group states them
    and they are finite: a full scan saved. The format keeps NaN out of min and max (a NaN left in the column is
    found by the histogram's range test), so only columns whose statistics are complete and finite are answered."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError):
        return {}
    wanted = {c.name for c in cols if c.numeric}
    found: dict[str, list[Any]] = {}
    bad: set[str] = set()
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for j in range(group.num_columns):
            chunk = group.column(j)
            name, stats = chunk.path_in_schema, chunk.statistics
            if name not in wanted or name in bad:
                continue
            logical = str(meta.schema.column(j).logical_type.type) if meta.schema.column(j).logical_type else "NONE"
            if chunk.physical_type not in _FOOTER_TYPES or logical not in ("NONE", "INT") or stats is None \
                    or not stats.has_null_count:
                bad.add(name)
                continue
            n = chunk.num_values - stats.null_count
            acc = found.setdefault(name, [0, math.inf, -math.inf])
            acc[0] += n
            if n == 0:
                continue
            if not stats.has_min_max or not (math.isfinite(float(stats.min)) and math.isfinite(float(stats.max))):
                bad.add(name)
                continue
            acc[1], acc[2] = min(acc[1], float(stats.min)), max(acc[2], float(stats.max))
    # + 0.0: the format writes a zero minimum as -0.0
    return {k: (int(n), lo + 0.0, hi + 0.0) for k, (n, lo, hi) in found.items()
            if k not in bad and n > 0 and math.isfinite(lo)}


def side_stats(engine: Engine, table: str, cols: Sequence[Col], *, source: str | None = None
               ) -> tuple[int | None, dict[str, tuple[int, Any, Any]]]:
    """The row count and per numeric column (non-null count, finite min, finite max); a column whose min or max is
    NaN or ±inf is measured again without them (its count then is of finite values). A local Parquet ``source``
    answers from its footer what it can (:func:`parquet_ranges`); the rest is one scan."""
    cols = [c for c in cols if c.numeric]
    path = Path(source) if source and source.lower().endswith((".parquet", ".pq")) else None
    footer = parquet_ranges(path, cols) if path is not None and path.is_file() else {}
    out: dict[str, tuple[int, Any, Any]] = dict(footer)
    cols = [c for c in cols if c.name not in footer]
    if not cols:
        return None, out
    total, *row = rows(engine, side_stats_sql(table, cols))[0]
    out.update({c.name: tuple(row[i * 3:(i + 1) * 3]) for i, c in enumerate(cols)})
    redo = [c for c in cols if out[c.name][0]
            and not (math.isfinite(float(out[c.name][1])) and math.isfinite(float(out[c.name][2])))]
    if redo:
        again = rows(engine, finite_stats_sql(table, redo))[0]
        for i, c in enumerate(redo):
            out[c.name] = tuple(again[i * 3:(i + 1) * 3])
    return int(total), out


def distinct_estimates(engine: Engine, table: str, cols: Sequence[Col]) -> dict[str, int]:
    """Estimated distinct values per column (HyperLogLog on the first 200,000 rows)."""
    if not cols:
        return {}
    got = rows(engine, distinct_sql(table, cols))[0]
    return {c.name: int(v or 0) for c, v in zip(cols, got, strict=True)}


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


@dataclass(frozen=True)
class Grid:
    """The fine grid of one column: Sturges ``edges``, each bin split into ``per_bin`` fine bins."""

    edges: np.ndarray
    per_bin: int

    @property
    def total(self) -> int:
        return (len(self.edges) - 1) * self.per_bin

    @property
    def scale(self) -> float:
        return self.total / (float(self.edges[-1]) - float(self.edges[0]))


@dataclass(frozen=True)
class Histogram:
    """One side of one column on its grid: counts per Sturges bin and per fine bin, and the moments when asked."""

    sturges: np.ndarray
    fine: np.ndarray
    moments: tuple[float, float, float] | None = None


def histograms(engine: Engine, table: str, grids: Mapping[str, tuple[Col, Grid]], *, moments: bool = False
               ) -> dict[str, Histogram]:
    """Counts of every column of ``grids`` per Sturges bin (exactly numpy's bins: half-open, the last closed) and per
    fine bin, and optionally (n, Σ(x-lo), Σ(x-lo)²), from one statement.

    One ``floor`` per row is the only per-row work in SQL (a single integer key, clamped in Python). Rounding may put
    a value lying within ~1e-15 of a Sturges edge on the wrong side: the min and max of the fine bins next to each
    edge show it, and only then are the values around that edge fetched and re-binned with numpy's own rule.
    """
    if not grids:
        return {}
    names = list(grids)
    params: dict[str, Any] = {}
    for i, name in enumerate(names):
        grid = grids[name][1]
        params.update({f"lo{i}": float(grid.edges[0]), f"hi{i}": float(grid.edges[-1]), f"k{i}": grid.scale})
    got = columns(engine, histogram_sql(table, [(i, grids[n][0]) for i, n in enumerate(names)], moments=moments),
                  params)
    which = np.asarray(got["c"], dtype=np.int64)
    out: dict[str, Histogram] = {}
    repairs: list[tuple[int, Col, list[int]]] = []
    for i, name in enumerate(names):
        col, grid = grids[name]
        sel = which == i
        f = np.clip(np.asarray(got["f"], dtype=np.int64)[sel], 0, grid.total - 1)  # x = max lands on `total`
        n = np.asarray(got["n"], dtype=float)[sel]
        fine = np.bincount(f, weights=n, minlength=grid.total)[:grid.total]
        nb = len(grid.edges) - 1
        sturges = fine.reshape(nb, grid.per_bin).sum(axis=1)
        bin_min, bin_max = np.full(grid.total, np.inf), np.full(grid.total, -np.inf)
        np.minimum.at(bin_min, f, np.asarray(got["lo"], dtype=float)[sel])
        np.maximum.at(bin_max, f, np.asarray(got["hi"], dtype=float)[sel])
        suspect = [j for j in range(1, nb) if bin_max[j * grid.per_bin - 1] >= grid.edges[j]
                   or bin_min[j * grid.per_bin] < grid.edges[j]]
        if suspect:
            repairs.append((i, col, suspect))
        stats = None
        if moments:
            stats = (float(n.sum()), float(np.sum(np.asarray(got["s1"], dtype=float)[sel])),
                     float(np.sum(np.asarray(got["s2"], dtype=float)[sel])))
        out[name] = Histogram(sturges, fine, stats)
    if repairs:
        _repair_edges(engine, table, names, grids, repairs, out)
    return out


def _repair_edges(engine: Engine, table: str, names: Sequence[str], grids: Mapping[str, tuple[Col, Grid]],
                  repairs: Sequence[tuple[int, Col, list[int]]], out: dict[str, Histogram]) -> None:
    """Move the values next to Sturges edges that rounding put in the wrong bin into numpy's bin."""
    params: dict[str, Any] = {}
    for i, _, suspect in repairs:
        grid = grids[names[i]][1]
        band = 1e-9 * (float(grid.edges[-1]) - float(grid.edges[0]))
        for j, e in enumerate(suspect):
            params[f"a{i}_{j}"], params[f"b{i}_{j}"] = float(grid.edges[e]) - band, float(grid.edges[e]) + band
    got = columns(engine, near_edges_sql(table, [(i, c, len(s)) for i, c, s in repairs]), params)
    which = np.asarray(got["c"], dtype=np.int64)
    for i, _, _ in repairs:
        name = names[i]
        grid = grids[name][1]
        near = np.asarray(got["x"], dtype=float)[which == i]
        lo, nb = float(grid.edges[0]), len(grid.edges) - 1
        # the bin the SQL gave them (same IEEE arithmetic, same clamp) and the bin numpy gives them
        given = np.clip(np.floor((near - lo) * grid.scale), 0, grid.total - 1).astype(np.int64) // grid.per_bin
        right = np.clip(np.searchsorted(grid.edges, near, side="right") - 1, 0, nb - 1)
        sturges = out[name].sturges.copy()
        np.subtract.at(sturges, given, 1)
        np.add.at(sturges, right, 1)
        out[name] = Histogram(sturges, out[name].fine, out[name].moments)


def weighted_std(x: np.ndarray, counts: np.ndarray) -> float:
    """Population standard deviation of values ``x`` repeated ``counts`` times (two passes, as numpy)."""
    n = counts.sum()
    mean = float(np.dot(x, counts) / n)
    return float(np.sqrt(np.dot(counts, (x - mean) ** 2) / n))


def cdf_from_counts(x: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sides' empirical CDFs at the merged sorted values ``x``."""
    return x, np.cumsum(ref) / ref.sum(), np.cumsum(cur) / cur.sum()
