"""The aggregate SQL: every query drift runs, reducing a column to counts (per-side statistics, value counts,
histogram counts on shared edges, merged sorted value runs).

This module alone speaks SQL. It is written once in DuckDB's dialect, restricted to what SQLGlot transpiles to Spark,
Trino and Athena unchanged in meaning (``CAST``, ``GROUP BY`` a named key, ``CASE`` instead of ``FILTER``, a range
test instead of ``isfinite``), and runs through an :class:`~governance.analytics.engines.Engine`: DuckDB here, Spark
where large monitoring data lives. Only aggregates come back (at most bins × columns rows per histogram).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from governance.analytics.drift.methods import NUMERIC
from governance.analytics.engines import Engine, columns, rows
from governance.analytics.io import quote

# Reading value counts is cheap while a column has few distinct values; beyond this the exact count of distinct
# values does not matter (every Evidently rule switches at 20 or fewer).
FEW_VALUES = 1000
# Finite doubles, as a range: NaN compares above every number and ±inf lies outside, in DuckDB, Spark and Trino
# alike (``isfinite`` exists in DuckDB only). NULL is not in the range either.
FINITE = "BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308"


def side_stats_sql(table: str, cols: Sequence[tuple[str, str]]) -> str:
    """One scan of ``table``: the row count, then per column count, min, max (numbers only) and a NULL slot."""
    parts: list[str] = ["count(*) AS c0"]
    for col, kind in cols:
        q = quote(col)
        exprs = [f"count({q})", f"min({q})", f"max({q})", "NULL"] if kind == NUMERIC else [
            f"count({q})", "NULL", "NULL", "NULL"]
        parts += [f"{e} AS c{len(parts) + i}" for i, e in enumerate(exprs)]
    return f"SELECT {', '.join(parts)} FROM {table}"


def distinct_sql(table: str, cols: Sequence[tuple[str, str]]) -> str:
    """Estimated distinct values per column on the first 200,000 rows (it only decides whether value counts are cheap)."""
    return ("SELECT " + ", ".join(f"approx_count_distinct({quote(c)}) AS d{i}" for i, (c, _) in enumerate(cols))
            + f" FROM (SELECT * FROM {table} LIMIT 200000) s")


def finite_stats_sql(table: str, col: str) -> str:
    """Count, min and max of the finite values of one column, and the number of NaN/±inf values."""
    x = f"CAST({quote(col)} AS DOUBLE)"
    fin = f"{x} {FINITE}"
    return (f"SELECT count(CASE WHEN {fin} THEN 1 END) AS n, min(CASE WHEN {fin} THEN {x} END) AS lo, "
            f"max(CASE WHEN {fin} THEN {x} END) AS hi, count(CASE WHEN NOT ({fin}) THEN 1 END) AS nonfinite "
            f"FROM {table}")


def side_stats(
    engine: Engine, table: str, cols: Sequence[tuple[str, str]], *, reference: bool
) -> dict[str, dict[str, Any]]:
    """Per column non-null count, nulls, min and max (one scan; Parquet answers these from its metadata), plus
    for the reference side an estimate of the number of distinct values.

    NaN and ±inf show up as a non-finite min or max; such a column is measured again without them, as Evidently
    drops them. The distinct estimate comes from the first 200,000 rows: it only decides whether exact value
    counts are cheap, and the value counts themselves are always exact.
    """
    if not cols:
        return {}
    total, *row = rows(engine, side_stats_sql(table, cols))[0]
    approx: list[Any] = [None] * len(cols)
    if reference:
        approx = list(rows(engine, distinct_sql(table, cols))[0])
    out: dict[str, dict[str, Any]] = {}
    for i, (col, kind) in enumerate(cols):
        n, lo, hi, std = row[i * 4:(i + 1) * 4]
        nonfinite = 0
        if kind == NUMERIC and n and not (math.isfinite(float(lo)) and math.isfinite(float(hi))):
            n, lo, hi, nonfinite = rows(engine, finite_stats_sql(table, col))[0]
        out[col] = {"n": int(n), "nulls": int(total) - int(n) - int(nonfinite),
                    "min": None if lo is None or kind != NUMERIC else float(lo),
                    "max": None if hi is None or kind != NUMERIC else float(hi),
                    "std": None if std is None else float(std), "approx": approx[i],
                    "nonfinite": int(nonfinite)}
    return out


def values_sql(table: str, col: str, kind: str, nonfinite: int) -> str:
    """The non-null (and, for numbers, finite) values of one column of one table, as ``x``."""
    q = quote(col)
    if kind == NUMERIC:
        x = f"CAST({q} AS DOUBLE)"
        where = f"{x} {FINITE}" if nonfinite else f"{q} IS NOT NULL"
        return f"(SELECT {x} AS x FROM {table} WHERE {where})"
    return f"(SELECT CAST({q} AS VARCHAR) AS x FROM {table} WHERE {q} IS NOT NULL)"


def value_counts_sql(side_sql: str) -> str:
    """Counts per distinct value of one side."""
    return f"SELECT x, count(*) AS n FROM {side_sql} v GROUP BY x"


def value_counts(
    engine: Engine, ref_sql: str, cur_sql: str
) -> tuple[tuple[Any, ...], np.ndarray, np.ndarray]:
    """Counts per distinct value on each side (one GROUP BY per side), merged on the sorted union of values."""
    sides = []
    for sql in (ref_sql, cur_sql):
        got = columns(engine, value_counts_sql(sql))
        sides.append((np.asarray(got["x"]), np.asarray(got["n"], dtype=np.int64)))
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


def histogram_sql(side_sql: str, *, moments: bool = False) -> str:
    """Count, min and max per fine bin ``floor((x - $lo) * $k)`` of one side (and Σ(x-lo), Σ(x-lo)² with ``moments``)."""
    extra = ", sum(x - $lo) AS s1, sum((x - $lo) * (x - $lo)) AS s2" if moments else ""
    return (f"SELECT f, count(*) AS n, min(x) AS lo, max(x) AS hi{extra} "
            f"FROM (SELECT CAST(floor((x - $lo) * $k) AS INTEGER) AS f, x FROM {side_sql} v) h GROUP BY f")


def near_edges_sql(side_sql: str, edges: int) -> str:
    """The values of one side within ``[$aJ, $bJ]`` for J < ``edges`` (values next to a bin edge)."""
    return f"SELECT x FROM {side_sql} v WHERE " + " OR ".join(f"(x BETWEEN $a{j} AND $b{j})" for j in range(edges))


def histograms(
    engine: Engine, side_sql: str, edges: np.ndarray, per_bin: int, *, moments: bool = False
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
    got = columns(engine, histogram_sql(side_sql, moments=moments), {"lo": lo, "k": scale})
    f = np.clip(np.asarray(got["f"], dtype=np.int64), 0, total - 1)  # x = max lands on `total`: the last bin
    fine = np.bincount(f, weights=np.asarray(got["n"]), minlength=total)[:total]
    sturges = fine.reshape(nb, per_bin).sum(axis=1)
    bin_min = np.full(total, np.inf)
    bin_max = np.full(total, -np.inf)
    np.minimum.at(bin_min, f, np.asarray(got["lo"], dtype=float))
    np.maximum.at(bin_max, f, np.asarray(got["hi"], dtype=float))
    suspect = [i for i in range(1, nb)
               if bin_max[i * per_bin - 1] >= edges[i] or bin_min[i * per_bin] < edges[i]]
    if suspect:
        band = 1e-9 * (hi - lo)
        params: dict[str, Any] = {}
        for j, i in enumerate(suspect):
            params[f"a{j}"], params[f"b{j}"] = float(edges[i]) - band, float(edges[i]) + band
        near = np.asarray(columns(engine, near_edges_sql(side_sql, len(suspect)), params)["x"], dtype=float)
        # the bin SQL gave them (same IEEE arithmetic, same clamp) and the bin numpy gives them
        given = np.clip(np.floor((near - lo) * scale), 0, total - 1).astype(np.int64) // per_bin
        right = np.clip(np.searchsorted(edges, near, side="right") - 1, 0, nb - 1)
        np.subtract.at(sturges, given, 1)
        np.add.at(sturges, right, 1)
    stats = None
    if moments:
        stats = (float(np.sum(got["n"])), float(np.sum(got["s1"])), float(np.sum(got["s2"])))
    return sturges, fine, stats


def weighted_std(x: np.ndarray, counts: np.ndarray) -> float:
    """Population standard deviation of values ``x`` repeated ``counts`` times (two passes, as numpy)."""
    n = counts.sum()
    mean = float(np.dot(x, counts) / n)
    return float(np.sqrt(np.dot(counts, (x - mean) ** 2) / n))


def cdf_from_counts(x: np.ndarray, ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return x, np.cumsum(ref) / ref.sum(), np.cumsum(cur) / cur.sum()
