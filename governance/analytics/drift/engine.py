"""The engine: pick a method per column, reduce both tables to aggregates, score, correct, summarise."""

from __future__ import annotations

import math
import time
from typing import Any

import duckdb
import numpy as np

from core.errors import InputError
from core.progress import ProgressFn, no_progress
from governance.analytics.drift.aggregates import (
    FEW_VALUES,
    cdf_from_counts,
    histograms,
    side_stats,
    sturges_edges,
    value_counts,
    values_sql,
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
from governance.analytics.drift.results import ColumnDrift, DriftConfig, DriftResult
from governance.analytics.engines import Engine, EngineChoice, as_engine, engine_summary, opened_engine
from governance.analytics.io import TableInfo


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
        config: methods, thresholds, column types, correction and exactness limits.
        progress: called with a message and a fraction in [0, 1].

    Returns:
        A :class:`DriftResult`; columns missing on one side are listed, not compared.

    Raises:
        InputError: a side has no rows, or no column can be compared.
    """
    started = time.perf_counter()
    engine = as_engine(con)
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
    rstats = side_stats(engine, reference.name, kinds, reference=True)
    cstats = side_stats(engine, current.name, kinds, reference=False)

    results: list[ColumnDrift] = []
    for i, (col, kind) in enumerate(kinds):
        progress(f"column {col}", 0.05 + 0.9 * i / max(len(kinds), 1))
        rs, cs = rstats[col], cstats[col]
        if rs["n"] == 0 or cs["n"] == 0:
            side = "reference" if rs["n"] == 0 else "current"
            skipped.append((col, f"all values are null (or not finite) in the {side} data"))
            continue
        results.append(_column(engine, reference, current, col, kind, rs, cs, config))

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
        correction=config.correction, seconds=time.perf_counter() - started, engine=engine_summary(engine),
    )


def _column(
    engine: Engine, reference: TableInfo, current: TableInfo, col: str, kind: str,
    rs: dict[str, Any], cs: dict[str, Any], config: DriftConfig,
) -> ColumnDrift:
    ref_sql = values_sql(reference.name, col, kind, rs["nonfinite"])
    cur_sql = values_sql(current.name, col, kind, cs["nonfinite"])
    n_ref, n_cur = rs["n"], cs["n"]
    values: tuple[Any, ...] | None = None
    vref = vcur = None
    if kind == CATEGORICAL or (rs["approx"] or 0) <= FEW_VALUES:
        values, vref, vcur = value_counts(engine, ref_sql, cur_sql)
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
        values, vref, vcur = value_counts(engine, ref_sql, cur_sql)

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
            cx, cref, ccur = cdf_from_counts(np.asarray(values, dtype=float), vref, vcur)
        elif n_ref + n_cur <= config.exact_max_rows:
            mvals, mref, mcur = value_counts(engine, ref_sql, cur_sql)
            merged = (np.asarray(mvals, dtype=float), mref, mcur)
            cx, cref, ccur = cdf_from_counts(*merged)
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
        bref, fref, moments = histograms(engine, ref_sql, edges, per_bin, moments=want_moments)
        bcur, fcur, _ = histograms(engine, cur_sql, edges, per_bin)
        if not exact:
            cx = np.linspace(float(edges[0]), float(edges[-1]), len(fref) + 1)
            cref = np.concatenate([[0.0], np.cumsum(fref) / n_ref])
            ccur = np.concatenate([[0.0], np.cumsum(fcur) / n_cur])
        if not need_bins:
            bref = bcur = None
    if name == "wasserstein":
        if values is not None:
            assert vref is not None
            std_ref = weighted_std(np.asarray(values, dtype=float), vref)
        elif merged is not None:
            std_ref = weighted_std(merged[0], merged[1])
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
    reference: Any, current: Any, config: DriftConfig = DriftConfig(), *, progress: ProgressFn = no_progress,
    engine: EngineChoice | None = None,
) -> DriftResult:
    """:func:`compute_drift` on two files or DataFrames (CSV, Parquet, Arrow), or on Spark (``engine``) two Parquet
    paths or table names."""
    with opened_engine(engine, ref=reference, cur=current) as (eng, infos):
        return compute_drift(eng, infos["ref"], infos["cur"], config, progress=progress)
