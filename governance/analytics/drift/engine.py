"""The engine: check the columns against the data contract, reduce both tables to aggregates (a handful of
statements), pick a method per column, score, correct, weigh by the model's importances, summarise."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import numpy as np

from core.errors import InputError
from core.progress import ProgressFn, no_progress
from governance.analytics.drift.aggregates import (
    FEW_VALUES,
    Col,
    Grid,
    Histogram,
    Side,
    cdf_from_counts,
    distinct_estimates,
    fetch_present,
    histograms,
    merge_counts,
    side_stats,
    sturges_edges,
    value_counts,
    weighted_std,
)
from governance.analytics.drift.methods import (
    CATEGORICAL,
    METHODS_BY_NAME,
    NUMERIC,
    Aggregates,
    adjust_p_values,
    binned_shares,
    default_method,
    ks_statistic,
    method,
    psi,
)
from governance.analytics.drift.results import ColumnDrift, ColumnProblem, DriftConfig, DriftResult
from governance.analytics.engines import Engine, EngineChoice, as_engine, engine_summary, opened_engine
from governance.analytics.io import TableInfo


def _kind_of(info: TableInfo, col: str) -> str | None:
    """``numeric``, ``categorical``, ``None`` for a type neither reads (a date), or ``"null"`` for a column whose
    every value is NULL and whose type therefore says nothing."""
    t = info.columns[col].upper()
    if t in ("NULL", '"NULL"'):
        return "null"
    if info.is_numeric(col):
        return NUMERIC
    if t.startswith(("VARCHAR", "BOOLEAN", "ENUM")) or t == "TEXT":
        return CATEGORICAL
    return None


@dataclass(frozen=True)
class _Plan:
    """Which columns are compared (and as what), which are problems, skipped or on one side only."""

    kinds: tuple[tuple[str, str], ...]
    problems: tuple[ColumnProblem, ...]
    skipped: tuple[tuple[str, str], ...]
    missing_in_current: tuple[str, ...]
    missing_in_reference: tuple[str, ...]


def _plan(reference: TableInfo, current: TableInfo, config: DriftConfig) -> _Plan:
    """Apply the data contract to the columns: a reference column missing from the current data or whose type
    changed is a problem (a failing finding); a type neither side can compare is skipped, and said so."""
    ref_cols, cur_cols = reference.columns, current.columns
    wanted = list(config.columns) if config.columns is not None else [*ref_cols, *(c for c in cur_cols
                                                                                    if c not in ref_cols)]
    unknown = [c for c in wanted if c not in ref_cols and c not in cur_cols]
    if unknown:
        raise InputError(f"column(s) {', '.join(map(repr, unknown))} are in neither file")
    wanted = [c for c in wanted if c not in set(config.exclude)]
    missing_cur = tuple(c for c in wanted if c not in cur_cols)
    problems = [ColumnProblem(c, "missing_in_current", f"the reference has it as {ref_cols[c]}") for c in missing_cur]
    skipped: list[tuple[str, str]] = []
    kinds: list[tuple[str, str]] = []
    for col in (c for c in wanted if c in cur_cols and c in ref_cols):
        forced = config.column_types.get(col)
        kr, kc = _kind_of(reference, col), _kind_of(current, col)
        if forced == NUMERIC:
            for info, side in ((reference, "reference"), (current, "current")):
                if _kind_of(info, col) not in (NUMERIC, "null") and not info.columns[col].upper().startswith("BOOL"):
                    raise InputError(f"column {col!r} is {info.columns[col]} in the {side} data and cannot be compared "
                                     "as numeric; leave out its column type or fix the file")
            kinds.append((col, NUMERIC))
        elif forced:
            kinds.append((col, forced))
        elif "null" in (kr, kc):
            kinds.append((col, kr if kc == "null" and kr not in (None, "null") else kc if kc not in (None, "null")
                          else CATEGORICAL))
        elif kr != kc:
            problems.append(ColumnProblem(col, "type_changed", f"{reference.columns[col]} in the reference, "
                                                               f"{current.columns[col]} in the current data"))
        elif kr is None:
            skipped.append((col, f"type {reference.columns[col]} is neither numeric nor text; set its column type "
                                 "to compare it"))
        else:
            kinds.append((col, kr))
    return _Plan(tuple(kinds), tuple(problems), tuple(skipped), missing_cur,
                 tuple(c for c in wanted if c not in ref_cols))


def compute_drift(
    con: duckdb.DuckDBPyConnection | Engine,
    reference: TableInfo,
    current: TableInfo,
    config: DriftConfig = DriftConfig(),
    *,
    progress: ProgressFn = no_progress,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column.

    Args:
        con: the engine both tables are registered in (:mod:`governance.analytics.engines`), or a DuckDB
            connection (see :mod:`governance.analytics.io`).
        reference: the reference table (training or validation data).
        current: the current table (monitoring data or an uploaded file).
        config: methods, thresholds, column types, correction, exactness limits and feature weights.
        progress: called with a message and a fraction in [0, 1].

    Returns:
        A :class:`DriftResult`. A reference column the current data lacks, retyped or without any value is a
        failing finding (:attr:`DriftResult.problems`) counted as drifted; columns only in the current data and
        index columns are listed, not compared.

    Raises:
        InputError: a side has no rows, no column can be compared, or a forced type does not fit the data.
    """
    started = time.perf_counter()
    engine = as_engine(con)
    for info, side in ((reference, "reference"), (current, "current")):
        if info.rows == 0:
            raise InputError(f"the {side} data ({info.source}) has no rows")
    plan = _plan(reference, current, config)
    progress("reading the data", 0.05)
    exact = reference.rows + current.rows <= config.exact_max_rows
    gathered = (_gather_exact if exact else _gather_binned)(engine, reference, current, plan.kinds, config)
    skipped, problems = list(plan.skipped), list(plan.problems)
    results: list[ColumnDrift] = []
    for i, (col, kind) in enumerate(plan.kinds):
        progress(f"column {col}", 0.5 + 0.45 * i / max(len(plan.kinds), 1))
        rs, cs, hist = gathered[col]
        if rs.n == 0:
            skipped.append((col, "no value in the reference data (all NULL, NaN or ±inf): nothing to compare with"))
        elif cs.n == 0:
            problems.append(ColumnProblem(col, "empty_in_current", f"all {current.rows} values are NULL, NaN or ±inf"))
        else:
            results.append(_column(engine, reference, current, col, kind, rs, cs, hist, config))
    if not results:
        reasons = "; ".join([*(f"{c}: {r}" for c, r in skipped), *(p.describe() for p in problems)])
        raise InputError(f"no column could be compared ({reasons or 'no column is present on both sides'})")
    if config.correction:
        results = _apply_correction(results, config)
    order = {c: i for i, c in enumerate(reference.columns)}
    problems.sort(key=lambda p: order.get(p.column, len(order)))
    drifted = sum(c.drifted for c in results) + len(problems)
    share = drifted / (len(results) + len(problems))
    weights, weighted = _weighted(config, results, problems)
    progress("done", 1.0)
    return DriftResult(
        columns=tuple(results), drift_share=share, dataset_drifted=bool(share >= config.drift_share),
        drift_share_threshold=config.drift_share, n_reference=reference.rows, n_current=current.rows,
        missing_in_current=plan.missing_in_current, missing_in_reference=plan.missing_in_reference,
        skipped=tuple(skipped), correction=config.correction, seconds=time.perf_counter() - started,
        engine=engine_summary(engine), problems=tuple(problems),
        index_columns=tuple(dict.fromkeys((*reference.index_columns, *current.index_columns))),
        weighted_drift=weighted, weights=weights, weights_source=config.weights_source, weights_ref=config.weights_ref,
    )


def _weighted(config: DriftConfig, results: Sequence[ColumnDrift], problems: Sequence[ColumnProblem]
              ) -> tuple[dict[str, float], float]:
    """The weights normalised over the columns compared (and those with a problem), and the weight drifted.

    Without weights every column weighs the same (the weighted drift is then the share). With weights, a column the
    weights do not name (not a model feature) weighs nothing; when no weighted feature is among the columns at all,
    every column weighs the same again, so the figure never reads 0 for want of weights.
    """
    names = [c.column for c in results] + [p.column for p in problems]
    raw = {c: float(config.weights.get(c, 0.0)) for c in names} if config.weights else {}
    if not raw or sum(raw.values()) <= 0:
        raw = dict.fromkeys(names, 1.0)
    total = sum(raw.values())
    weights = {c: w / total for c, w in raw.items()}
    drifted = {c.column for c in results if c.drifted} | {p.column for p in problems}
    return weights, float(min(1.0, sum(w for c, w in weights.items() if c in drifted)))


# -- gathering the aggregates -------------------------------------------------------------------------------------


def _cols(info: TableInfo, kinds: Sequence[tuple[str, str]], numeric: bool) -> list[Col]:
    return [Col(c, info.columns[c], k == NUMERIC) for c, k in kinds if (k == NUMERIC) is numeric]


def _counted(info: TableInfo, got: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Side]:
    out = {}
    for name, (values, counts) in got.items():
        n = int(counts.sum())
        out[name] = Side(n=n, missing=info.rows - n, values=values, counts=counts)
    return out


def _gather_exact(engine: Engine, reference: TableInfo, current: TableInfo, kinds: Sequence[tuple[str, str]],
                  config: DriftConfig) -> dict[str, tuple[Side, Side, Any]]:
    """Small data: every present numeric value, and the value counts of the categorical columns, per side."""
    out: dict[str, tuple[Side, Side, Any]] = {}
    sides = []
    for info in (reference, current):
        cat = _counted(info, value_counts(engine, info.name, _cols(info, kinds, False)))
        raw = fetch_present(engine, info.name, _cols(info, kinds, True), info.rows)
        for name, values in raw.items():
            values.sort()  # numpy's SIMD sort: every order statistic below reads the sorted runs
            cat[name] = Side(n=len(values), missing=info.rows - len(values), lo=float(values[0]) if len(values) else None,
                             hi=float(values[-1]) if len(values) else None, raw=values)
        sides.append(cat)
    for col, _ in kinds:
        out[col] = (sides[0][col], sides[1][col], None)
    return out


def _gather_binned(engine: Engine, reference: TableInfo, current: TableInfo, kinds: Sequence[tuple[str, str]],
                   config: DriftConfig) -> dict[str, tuple[Side, Side, Any]]:
    """Large data: counts and ranges (metadata), value counts where values are few, fine histograms elsewhere."""
    stats = []
    for info in (reference, current):
        _, got = side_stats(engine, info.name, _cols(info, kinds, True), source=info.source)
        stats.append(got)
    numeric = [c for c, k in kinds if k == NUMERIC and stats[0][c][0] and stats[1][c][0]]
    estimates = distinct_estimates(engine, reference.name, _cols(reference, [(c, NUMERIC) for c in numeric], True))
    wants_values = {c for c in numeric if estimates.get(c, 0) <= FEW_VALUES or _forced_needs_values(config, c)}
    by_values = [(c, k) for c, k in kinds if k == CATEGORICAL or c in wants_values]
    binned = [c for c in numeric if c not in wants_values]
    sides: list[dict[str, Side]] = []
    for info in (reference, current):
        vc = value_counts(engine, info.name, [Col(c, info.columns[c], k == NUMERIC) for c, k in by_values])
        sides.append(_counted(info, vc))
    grids = {}
    for col in binned:
        (nr, lr, hr), (nc, lc, hc) = stats[0][col], stats[1][col]
        grids[col] = _grid(reference, current, col, float(min(lr, lc)), float(max(hr, hc)), int(nr) + int(nc), config)
    hists = _histograms(engine, reference, current, grids, config, stats)
    out: dict[str, tuple[Side, Side, Any]] = {}
    for col, _ in kinds:
        if col in hists:
            (href, hcur), (_, lr, hr), (_, lc, hc) = hists[col], stats[0][col], stats[1][col]
            rs = Side(n=int(href.fine.sum()), missing=reference.rows - int(href.fine.sum()), lo=lr, hi=hr,
                      distinct=estimates.get(col))
            cs = Side(n=int(hcur.fine.sum()), missing=current.rows - int(hcur.fine.sum()), lo=lc, hi=hc)
            out[col] = (rs, cs, (grids[col], href, hcur))
        elif col in sides[0]:
            out[col] = (sides[0][col], sides[1][col], None)
        else:  # no value at all on a side
            empty = [Side(n=0, missing=info.rows) for info in (reference, current)]
            out[col] = (sides[0].get(col, empty[0]), sides[1].get(col, empty[1]), None)
    return out


def _forced_needs_values(config: DriftConfig, col: str) -> bool:
    name = config.methods.get(col) or config.num_method
    return bool(name) and method(name).needs == "values"


def _integer(reference: TableInfo, current: TableInfo, col: str, no_missing: bool) -> bool:
    # numpy widens its Sturges bins to 1 for integers; a column with a missing value reaches Evidently as floats
    return reference.is_integer(col) and current.is_integer(col) and no_missing


def _grid(reference: TableInfo, current: TableInfo, col: str, lo: float, hi: float, n: int,
          config: DriftConfig) -> Grid:
    edges = sturges_edges(lo, hi, n, _integer(reference, current, col, n == reference.rows + current.rows))
    return Grid(edges, max(1, -(-config.hist_bins // (len(edges) - 1))))


def _histograms(engine: Engine, reference: TableInfo, current: TableInfo, grids: dict[str, Grid], config: DriftConfig,
                stats: Sequence[Mapping[str, tuple[Any, Any, Any]]]) -> dict[str, tuple[Histogram, Histogram]]:
    """Both sides' histograms; a column whose non-null count hid NaN (Parquet statistics do not count it) is binned
    again on the Sturges edges of its true count, so the bins stay numpy's."""
    out: dict[str, tuple[Histogram, Histogram]] = {}
    todo = dict(grids)
    for _ in range(2):
        ref = histograms(engine, reference.name, {c: (Col(c, reference.columns[c], True), g) for c, g in todo.items()},
                         moments=True)
        cur = histograms(engine, current.name, {c: (Col(c, current.columns[c], True), g) for c, g in todo.items()})
        again = {}
        for col, grid in todo.items():
            out[col] = (ref[col], cur[col])
            n = int(ref[col].fine.sum() + cur[col].fine.sum())
            (_, lr, hr), (_, lc, hc) = stats[0][col], stats[1][col]
            right = _grid(reference, current, col, float(min(lr, lc)), float(max(hr, hc)), n, config)
            if len(right.edges) != len(grid.edges) or right.per_bin != grid.per_bin:
                again[col] = grids[col] = right
        if not again:
            break
        todo = again
    return out


# -- one column ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Values:
    """A column's distinct values on both sides: the values (both sides, sorted), each side's count per value and
    cumulative count, and the numbers of distinct values (of the reference, of both). ``values`` is None when the
    column has far too many to count (binned route)."""

    n_unique_ref: int
    n_unique: int
    values: Any = None
    ref: np.ndarray | None = None
    cur: np.ndarray | None = None
    cum: tuple[np.ndarray, np.ndarray] | None = None


def _values(rs: Side, cs: Side) -> _Values:
    if rs.raw is not None and cs.raw is not None:
        x, vref, vcur, cum = _merged_runs(rs.raw, cs.raw)
        return _Values(int((vref > 0).sum()), len(x), x, vref, vcur, cum)
    if rs.values is not None and cs.values is not None:
        x, vref, vcur = merge_counts((rs.values, rs.counts), (cs.values, cs.counts))  # type: ignore[arg-type]
        return _Values(int((vref > 0).sum()), len(x), x, vref, vcur)
    many = int(rs.distinct or FEW_VALUES + 1)  # far more than 20 distinct values: the exact number changes no rule
    return _Values(many, many)


def _column(engine: Engine, reference: TableInfo, current: TableInfo, col: str, kind: str, rs: Side, cs: Side,
            hist: tuple[Grid, Histogram, Histogram] | None, config: DriftConfig) -> ColumnDrift:
    n_ref, n_cur = rs.n, cs.n
    v = _values(rs, cs)
    name = config.methods.get(col) or (config.num_method if kind == NUMERIC else config.cat_method)
    name = name or default_method(kind, n_ref, v.n_unique)
    m = method(name)
    if kind not in m.kinds:
        raise InputError(f"method {name!r} does not apply to {kind} column {col!r} (it takes {', '.join(m.kinds)})")
    threshold = float(config.thresholds.get(col, m.default_threshold))
    need_bins = kind == NUMERIC and v.n_unique_ref > 20
    if v.values is None and m.needs in ("values", "binned") and not need_bins:
        raise InputError(f"method {name!r} needs the values of {col!r}, which has too many to count")
    agg = _aggregates(reference, current, col, kind, rs, cs, hist, v, name, need_bins)
    score = m.func(agg)
    return ColumnDrift(
        column=col, column_type=kind, method=name, score=score, threshold=threshold,
        drifted=m.drifted(score, threshold), psi=psi(agg), n_reference=n_ref, n_current=n_cur,
        nulls_reference=rs.missing, nulls_current=cs.missing, exact=hist is None,
        ks_statistic=ks_statistic(agg) if m.needs == "cdf" else None, chart=_chart_data(agg),
    )


def _aggregates(reference: TableInfo, current: TableInfo, col: str, kind: str, rs: Side, cs: Side,
                hist: tuple[Grid, Histogram, Histogram] | None, v: _Values, name: str, need_bins: bool
                ) -> Aggregates:
    """What the method reads: Sturges bins, CDFs and the reference's standard deviation, exact from the values or
    from the histograms."""
    n_ref, n_cur = rs.n, cs.n
    needs_cdf = method(name).needs == "cdf"
    edges = bref = bcur = cx = cref = ccur = None
    std_ref: float | None = None
    if v.values is not None:
        x = np.asarray(v.values, dtype=float) if kind == NUMERIC else None
        if need_bins:
            assert x is not None and v.ref is not None and v.cur is not None
            integer = _integer(reference, current, col, rs.missing == 0 and cs.missing == 0)
            edges = sturges_edges(float(x[0]), float(x[-1]), n_ref + n_cur, integer)  # x: both sides, sorted
            if rs.raw is not None and cs.raw is not None:
                bref, bcur = _sorted_bins(rs.raw, edges), _sorted_bins(cs.raw, edges)
            else:
                bref = np.histogram(x, edges, weights=v.ref)[0].astype(np.int64)
                bcur = np.histogram(x, edges, weights=v.cur)[0].astype(np.int64)
        if needs_cdf:
            assert x is not None
            cx, cref, ccur = ((x, v.cum[0] / n_ref, v.cum[1] / n_cur) if v.cum is not None
                              else cdf_from_counts(x, v.ref, v.cur))  # type: ignore[arg-type]
        if name == "wasserstein":
            assert x is not None and v.ref is not None
            std_ref = float(np.std(rs.raw)) if rs.raw is not None else weighted_std(x, v.ref)
    else:
        assert hist is not None
        grid, href, hcur = hist
        edges, bref, bcur = grid.edges, href.sturges.astype(np.int64), hcur.sturges.astype(np.int64)
        cx = np.linspace(float(edges[0]), float(edges[-1]), grid.total + 1)
        cref = np.concatenate([[0.0], np.cumsum(href.fine) / n_ref])
        ccur = np.concatenate([[0.0], np.cumsum(hcur.fine) / n_cur])
        if name == "wasserstein":
            assert href.moments is not None
            n, s1, s2 = href.moments
            # shifted by the bin origin (the minimum), so the one-pass formula keeps ~1e-12 precision
            std_ref = math.sqrt(max(s2 / n - (s1 / n) ** 2, 0.0))
    return Aggregates(
        column=col, kind=kind, n_reference=n_ref, n_current=n_cur, n_unique_reference=v.n_unique_ref,
        n_unique=v.n_unique, std_reference=std_ref, values=v.values, value_ref=v.ref, value_cur=v.cur,
        bin_edges=edges, bins_ref=bref, bins_cur=bcur, cdf_x=cx, cdf_ref=cref, cdf_cur=ccur, cdf_exact=hist is None,
    )


def _merged_runs(ref: np.ndarray, cur: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Two sorted samples merged: the distinct values, each side's count per value, and each side's cumulative count
    (one stable merge of the two sorted runs; no search per value)."""
    merged = np.concatenate([ref, cur])
    order = np.argsort(merged, kind="stable")  # two sorted runs: a linear merge
    x = merged[order]
    from_cur = np.cumsum(order >= len(ref))
    from_ref = np.arange(1, len(x) + 1) - from_cur
    last = np.empty(len(x), dtype=bool)  # the last position of each distinct value
    last[-1] = True
    np.not_equal(x[1:], x[:-1], out=last[:-1])
    cref, ccur = from_ref[last], from_cur[last]
    vref, vcur = cref.copy(), ccur.copy()
    vref[1:] -= cref[:-1]
    vcur[1:] -= ccur[:-1]
    return x[last], vref, vcur, (cref, ccur)


def _sorted_bins(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``numpy.histogram(values, edges)`` of sorted values: half-open bins, the last closed, by the same search."""
    cum = np.concatenate([np.searchsorted(sorted_values, edges[:-1], "left"),
                          np.searchsorted(sorted_values, edges[-1:], "right")])
    return np.diff(cum).astype(np.int64)


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
        out[i] = replace(c, p_value_adjusted=float(p), drifted=m.drifted(float(p), c.threshold))
    return out


def drift_files(
    reference: Any, current: Any, config: DriftConfig = DriftConfig(), *, progress: ProgressFn = no_progress,
    engine: EngineChoice | None = None,
) -> DriftResult:
    """:func:`compute_drift` on two files or DataFrames (CSV, Parquet, Arrow), or on Spark (``engine``) two Parquet
    paths or table names."""
    with opened_engine(engine, ref=reference, cur=current) as (eng, infos):
        return compute_drift(eng, infos["ref"], infos["cur"], config, progress=progress)
