"""Outcome fairness of a binary classifier across protected groups, from confusion counts.

One SQL ``GROUP BY`` over every protected attribute at once yields the confusion counts (TP, FP, FN, TN) per
combination of values; every metric is derived from those counts in Python: per group n, selection rate, TPR, FPR,
precision, accuracy (with Wilson intervals for the rates), per attribute demographic parity difference and ratio
(the four-fifths rule), equalized odds difference, and SageMaker Clarify's metrics under their own names. The
intersections of each pair of attributes come from the same counts. The SQL is plain aggregation, so it runs
unchanged on Spark or Trino.

Clarify's definitions (AWS documentation, "Pre-training / Post-training bias metrics"), with facet *d* = one value
of the attribute and facet *a* = every other row; n = rows, n⁽¹⁾ = observed positives, n̂⁽¹⁾ = predicted
positives, q = n⁽¹⁾/n, q̂ = n̂⁽¹⁾/n, P = the label distribution (q, 1-q):

    CI   = (n_a - n_d) / (n_a + n_d)                 DPL = q_a - q_d
    KL   = Σ_y P_a(y) ln(P_a(y)/P_d(y))             JS  = ½ [KL(P_a‖M) + KL(P_d‖M)], M = ½ (P_a + P_d)
    LP   = (Σ_y |P_a(y) - P_d(y)|²)^½               TVD = ½ Σ_y |P_a(y) - P_d(y)|
    KS   = max_y |P_a(y) - P_d(y)|
    DPPL = q̂_a - q̂_d                                DI  = q̂_d / q̂_a
    DCA  = n_a⁽¹⁾/n̂_a⁽¹⁾ - n_d⁽¹⁾/n̂_d⁽¹⁾            DCR = n_d⁽⁰⁾/n̂_d⁽⁰⁾ - n_a⁽⁰⁾/n̂_a⁽⁰⁾
    RD   = TPR_a - TPR_d                             SD  = TNR_d - TNR_a
    DAR  = TP_a/n̂_a⁽¹⁾ - TP_d/n̂_d⁽¹⁾                DRR = TN_d/n̂_d⁽⁰⁾ - TN_a/n̂_a⁽⁰⁾
    AD   = ACC_a - ACC_d                             TE  = FN_d/FP_d - FN_a/FP_a

A value whose denominator is zero is reported as ``None`` (undefined), never as a made-up number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

import duckdb

from core.errors import InputError
from core.progress import ProgressFn, no_progress
from governance.analytics.engines import Engine, EngineChoice, as_engine, engine_summary, opened_engine, rows
from governance.analytics.io import TableInfo, quote
from governance.analytics.summaries import AttributeSummary, BiasSummary

MISSING = "(missing)"
FOUR_FIFTHS = 0.8
PRE_TRAINING = ("CI", "DPL", "KL", "JS", "LP", "TVD", "KS")
POST_TRAINING = ("DPPL", "DI", "DCA", "DCR", "RD", "SD", "DAR", "DRR", "AD", "TE")


@dataclass(frozen=True)
class Counts:
    """Confusion counts of one group."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float] | None:
    """Wilson score interval of the proportion k/n (95 % by default); ``None`` when n is 0."""
    if n == 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, center - half), min(1.0, center + half))


@dataclass(frozen=True)
class GroupStats:
    """Rates of one group (one value of an attribute, or one intersection)."""

    group: str
    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    selection_rate: float
    base_rate: float
    tpr: float | None
    fpr: float | None
    precision: float | None
    accuracy: float
    selection_rate_ci: tuple[float, float] | None
    tpr_ci: tuple[float, float] | None
    fpr_ci: tuple[float, float] | None
    small: bool


def group_stats(group: str, c: Counts, min_group_size: int) -> GroupStats:
    """Every per-group rate derived from the confusion counts ``c``."""
    pos, neg, sel = c.tp + c.fn, c.fp + c.tn, c.tp + c.fp
    return GroupStats(
        group=group, n=c.n, tp=c.tp, fp=c.fp, fn=c.fn, tn=c.tn,
        selection_rate=sel / c.n, base_rate=pos / c.n, tpr=_div(c.tp, pos), fpr=_div(c.fp, neg),
        precision=_div(c.tp, sel), accuracy=(c.tp + c.tn) / c.n,
        selection_rate_ci=wilson_interval(sel, c.n), tpr_ci=wilson_interval(c.tp, pos),
        fpr_ci=wilson_interval(c.fp, neg), small=c.n < min_group_size or pos < 5 or neg < 5,
    )


def _kl(p: Sequence[float], q: Sequence[float]) -> float | None:
    total = 0.0
    for pi, qi in zip(p, q, strict=True):
        if pi == 0:
            continue
        if qi == 0:
            return None
        total += pi * math.log(pi / qi)
    return total


def clarify_metrics(d: Counts, a: Counts) -> dict[str, float | None]:
    """SageMaker Clarify's pre- and post-training metrics of facet ``d`` against the rest ``a``."""
    out: dict[str, float | None] = {}
    na, nd = a.n, d.n
    out["CI"] = _div(na - nd, na + nd)
    qa, qd = _div(a.tp + a.fn, na), _div(d.tp + d.fn, nd)
    if qa is None or qd is None:
        out.update(dict.fromkeys(("DPL", "KL", "JS", "LP", "TVD", "KS")))
    else:
        pa, pd_ = (qa, 1 - qa), (qd, 1 - qd)
        m = tuple((x + y) / 2 for x, y in zip(pa, pd_, strict=True))
        kl_am, kl_dm = _kl(pa, m), _kl(pd_, m)
        out["DPL"] = qa - qd
        out["KL"] = _kl(pa, pd_)
        out["JS"] = None if kl_am is None or kl_dm is None else 0.5 * (kl_am + kl_dm)
        out["LP"] = math.sqrt(sum((x - y) ** 2 for x, y in zip(pa, pd_, strict=True)))
        out["TVD"] = 0.5 * sum(abs(x - y) for x, y in zip(pa, pd_, strict=True))
        out["KS"] = max(abs(x - y) for x, y in zip(pa, pd_, strict=True))

    def diff(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None else x - y

    sa, sd = _div(a.tp + a.fp, na), _div(d.tp + d.fp, nd)
    out["DPPL"] = diff(sa, sd)
    out["DI"] = None if sa is None or sd is None else _div(sd, sa)
    out["DCA"] = diff(_div(a.tp + a.fn, a.tp + a.fp), _div(d.tp + d.fn, d.tp + d.fp))
    out["DCR"] = diff(_div(d.tn + d.fp, d.tn + d.fn), _div(a.tn + a.fp, a.tn + a.fn))
    out["RD"] = diff(_div(a.tp, a.tp + a.fn), _div(d.tp, d.tp + d.fn))
    out["SD"] = diff(_div(d.tn, d.tn + d.fp), _div(a.tn, a.tn + a.fp))
    out["DAR"] = diff(_div(a.tp, a.tp + a.fp), _div(d.tp, d.tp + d.fp))
    out["DRR"] = diff(_div(d.tn, d.tn + d.fn), _div(a.tn, a.tn + a.fn))
    out["AD"] = diff(_div(a.tp + a.tn, na), _div(d.tp + d.tn, nd))
    out["TE"] = diff(_div(d.fn, d.fp), _div(a.fn, a.fp))
    return out


def _spread(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return max(vals) - min(vals) if vals else None


@dataclass(frozen=True)
class AttributeBias:
    """Fairness of one protected attribute (or one intersection of two)."""

    attribute: str
    groups: tuple[GroupStats, ...]
    demographic_parity_difference: float
    demographic_parity_ratio: float | None
    equalized_odds_difference: float | None
    equal_opportunity_difference: float | None
    four_fifths_pass: bool
    clarify: dict[str, dict[str, float | None]]
    warnings: tuple[str, ...] = ()

    def group(self, name: str) -> GroupStats:
        """The statistics of group ``name``."""
        for g in self.groups:
            if g.group == name:
                return g
        raise KeyError(name)


def attribute_bias(attribute: str, counts: Mapping[str, Counts], min_group_size: int = 30) -> AttributeBias:
    """Group rates, parity metrics and Clarify metrics of one attribute from its per-group counts."""
    groups = tuple(group_stats(g, c, min_group_size) for g, c in sorted(counts.items()))
    total = Counts()
    for c in counts.values():
        total = total + c
    sel = [g.selection_rate for g in groups]
    dpr = _div(min(sel), max(sel)) if max(sel) > 0 else None
    tpr_spread = _spread([g.tpr for g in groups])
    fpr_spread = _spread([g.fpr for g in groups])
    eod = None if tpr_spread is None and fpr_spread is None else max(v for v in (tpr_spread, fpr_spread) if v is not None)
    clarify = {}
    for g, c in sorted(counts.items()):
        rest = Counts(total.tp - c.tp, total.fp - c.fp, total.fn - c.fn, total.tn - c.tn)
        clarify[g] = clarify_metrics(c, rest)
    warnings = tuple(
        f"{attribute}={g.group}: only {g.n} rows ({g.tp + g.fn} positive, {g.fp + g.tn} negative labels); "
        "too few to conclude" for g in groups if g.small
    )
    return AttributeBias(
        attribute=attribute, groups=groups, demographic_parity_difference=max(sel) - min(sel),
        demographic_parity_ratio=dpr, equalized_odds_difference=eod, equal_opportunity_difference=tpr_spread,
        four_fifths_pass=dpr is not None and dpr >= FOUR_FIFTHS, clarify=clarify, warnings=warnings,
    )


@dataclass(frozen=True)
class BiasConfig:
    """What the scored data means. Every field is part of the evidence's configuration hash.

    Args:
        label: the observed outcome column (binary).
        protected: protected attribute columns (they need not be model inputs).
        prediction: the predicted label column, or ``None`` when ``score`` + ``threshold`` are given.
        score: a score column; predicted positive when ``score >= threshold``.
        threshold: the decision threshold for ``score``.
        positive_label: the favourable outcome (default: 1 / true when the label is 0/1 or boolean).
        intersections: also compute each pair of attributes.
        min_group_size: groups smaller than this are flagged as too small to conclude.
    """

    label: str
    protected: tuple[str, ...]
    prediction: str | None = None
    score: str | None = None
    threshold: float = 0.5
    positive_label: str | None = None
    intersections: bool = True
    min_group_size: int = 30

    def __post_init__(self) -> None:
        if not self.protected:
            raise InputError("name at least one protected attribute")
        if (self.prediction is None) == (self.score is None):
            raise InputError("give either a prediction column or a score column (with a threshold), not both")


@dataclass(frozen=True)
class BiasResult:
    """Fairness per attribute and per intersection."""

    attributes: tuple[AttributeBias, ...]
    intersections: tuple[AttributeBias, ...]
    n: int
    dropped_rows: int
    label: str
    positive_label: str
    prediction: str
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    # which engine computed the counts: name, query_hash, queries, rows_returned, bytes_returned
    engine: dict[str, Any] = field(default_factory=dict)

    def attribute(self, name: str) -> AttributeBias:
        """The result of attribute ``name`` (or intersection ``a×b``)."""
        for a in (*self.attributes, *self.intersections):
            if a.attribute == name:
                return a
        raise KeyError(name)

    @property
    def min_disparate_impact(self) -> float | None:
        """The smallest demographic parity ratio over the single attributes."""
        vals = [a.demographic_parity_ratio for a in self.attributes if a.demographic_parity_ratio is not None]
        return min(vals) if vals else None

    def summary(self) -> BiasSummary:
        """The small record stored as the evidence summary."""
        return BiasSummary(
            attributes={
                a.attribute: AttributeSummary(
                    demographic_parity_ratio=a.demographic_parity_ratio,
                    demographic_parity_difference=a.demographic_parity_difference,
                    equalized_odds_difference=a.equalized_odds_difference,
                    four_fifths_pass=a.four_fifths_pass,
                )
                for a in self.attributes
            },
            min_disparate_impact=self.min_disparate_impact,
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        d = asdict(self)
        d["min_disparate_impact"] = self.min_disparate_impact
        return d


def result_from_dict(d: Mapping[str, Any]) -> BiasResult:
    """Rebuild a :class:`BiasResult` from :meth:`BiasResult.to_dict` output (stored evidence)."""

    def attr(x: Mapping[str, Any]) -> AttributeBias:
        groups = tuple(
            GroupStats(**{**g, **{k: tuple(g[k]) if g[k] is not None else None
                                  for k in ("selection_rate_ci", "tpr_ci", "fpr_ci")}})
            for g in x["groups"]
        )
        return AttributeBias(**{**x, "groups": groups, "warnings": tuple(x.get("warnings", ()))})

    return BiasResult(
        attributes=tuple(attr(a) for a in d["attributes"]), intersections=tuple(attr(a) for a in d["intersections"]),
        n=d["n"], dropped_rows=d["dropped_rows"], label=d["label"], positive_label=d["positive_label"],
        prediction=d["prediction"], warnings=tuple(d.get("warnings", ())), seconds=d.get("seconds", 0.0),
        engine=dict(d.get("engine") or {}),
    )


# -- SQL ---------------------------------------------------------------------------------------------------------


def domain_sql(table: str, col: str, limit: int, present: str | None = None) -> str:
    """Up to ``limit`` distinct present values of ``col`` as text (``present``: the column's 'value is present'
    predicate, :meth:`TableInfo.present`; NOT NULL by default)."""
    where = present or f"{quote(col)} IS NOT NULL"
    return f"SELECT DISTINCT CAST({quote(col)} AS VARCHAR) AS v FROM {table} WHERE {where} LIMIT {limit}"


def _group_key(attr: str, present: str | None) -> str:
    """An attribute's group as text; a missing value (NULL, and NaN or ±inf in a float column) is ``(missing)``."""
    if present is None:
        return f"coalesce(CAST({quote(attr)} AS VARCHAR), '{MISSING}')"
    return f"CASE WHEN {present} THEN CAST({quote(attr)} AS VARCHAR) ELSE '{MISSING}' END"


def counts_sql(table: str, attrs: Sequence[str], y_sql: str, p_sql: str, not_null: str,
               present: Mapping[str, str] | None = None) -> str:
    """TP, FP, FN, TN per combination of the protected attributes' values (missing as ``(missing)``), one GROUP BY.

    ``present`` maps a float attribute to its 'value is present' predicate, so NaN groups with NULL."""
    keys = [f"{_group_key(a, (present or {}).get(a))} AS k{i}" for i, a in enumerate(attrs)]
    group_by = ", ".join(f"k{i}" for i in range(len(attrs)))
    return (
        f"SELECT {group_by}, "
        "sum(CASE WHEN y AND p THEN 1 ELSE 0 END) AS tp, sum(CASE WHEN NOT y AND p THEN 1 ELSE 0 END) AS fp, "
        "sum(CASE WHEN y AND NOT p THEN 1 ELSE 0 END) AS fn, sum(CASE WHEN NOT y AND NOT p THEN 1 ELSE 0 END) AS tn "
        f"FROM (SELECT {', '.join(keys)}, ({y_sql}) AS y, ({p_sql}) AS p FROM {table} "
        f"WHERE {not_null}) s GROUP BY {group_by}"
    )


def _domain(engine: Engine, data: TableInfo, col: str, limit: int = 50) -> list[str]:
    present = data.present(col) if data.is_float(col) else None
    return sorted(r[0] for r in rows(engine, domain_sql(data.name, col, limit, present)))


def _positive_default(values: list[str]) -> str | None:
    low = {v.lower() for v in values}
    for cand in ("1", "true", "1.0"):
        if cand in low and low <= {"0", "1", "true", "false", "0.0", "1.0"}:
            return next(v for v in values if v.lower() == cand)
    return None


def _equals(info: TableInfo, col: str, value: str, param: str) -> tuple[str, Any]:
    """A SQL predicate ``col = $param`` comparing numbers as numbers (1 = 1.0) and everything else as text."""
    t = info.columns[col].upper()
    if info.is_numeric(col):
        try:
            return f"CAST({quote(col)} AS DOUBLE) = ${param}", float(value)
        except ValueError:
            raise InputError(f"positive label {value!r} is not a number but column {col!r} is numeric") from None
    if t == "BOOLEAN":
        if value.lower() not in ("true", "false", "1", "0"):
            raise InputError(f"positive label {value!r} does not fit boolean column {col!r} (use true or false)")
        return f"{quote(col)} = ${param}", value.lower() in ("true", "1")
    return f"CAST({quote(col)} AS VARCHAR) = ${param}", value


def compute_bias(
    con: duckdb.DuckDBPyConnection | Engine, data: TableInfo, config: BiasConfig, *, progress: ProgressFn = no_progress
) -> BiasResult:
    """Confusion counts per protected group in one SQL query, then every fairness metric from the counts.

    Args:
        con: the engine holding ``data`` (:mod:`governance.analytics.engines`), or a DuckDB connection (see
            :mod:`governance.analytics.io`).
        data: scored rows: label, prediction or score, protected attributes.
        config: column roles, positive label, threshold, minimum group size.
        progress: called with a message and a fraction in [0, 1].

    Returns:
        A :class:`BiasResult`.

    Raises:
        InputError: a column is missing, the label is not binary, the positive label never occurs, the
            prediction does not use the label's values, or no attribute has two groups.
    """
    started = time.perf_counter()
    engine = as_engine(con)
    if data.rows == 0:
        raise InputError(f"the scored data ({data.source}) has no rows")
    needed = [config.label, *(c for c in (config.prediction, config.score) if c), *config.protected]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise InputError(
            f"column(s) {', '.join(map(repr, missing))} not in the data (it has: {', '.join(data.columns)})"
        )
    t = data.name
    progress("checking the label", 0.05)
    labels, positive, y_sql, y_param = _positive_label(engine, data, config)
    params: dict[str, Any] = {"y": y_param}
    p_sql, params["p"], pred_name, not_null = _predicted_positive(engine, data, config, labels, positive)

    attrs = list(dict.fromkeys(config.protected))
    progress("counting outcomes per group", 0.2)
    floats = {a: data.present(a) for a in attrs if data.is_float(a)}
    sql = counts_sql(t, attrs, y_sql, p_sql, f"{data.present(config.label)} AND {not_null}", floats)
    cells = {tuple(r[: len(attrs)]): Counts(*(int(v) for v in r[len(attrs):])) for r in rows(engine, sql, params)}
    n = sum(c.n for c in cells.values())
    progress("deriving metrics", 0.7)

    results, inter, warnings = _per_attribute(cells, attrs, config)
    for r in results:
        warnings.extend(r.warnings)
    dropped = data.rows - n
    if dropped:
        warnings.append(f"{dropped} rows without a label or prediction were left out")
    if data.index_columns:
        warnings.append(f"index column(s) {', '.join(data.index_columns)} left out (pandas' index, not data)")
    progress("done", 1.0)
    return BiasResult(
        attributes=tuple(results), intersections=tuple(inter), n=n, dropped_rows=dropped, label=config.label,
        positive_label=positive, prediction=pred_name, warnings=tuple(warnings),
        seconds=time.perf_counter() - started, engine=engine_summary(engine),
    )


def _positive_label(engine: Engine, data: TableInfo, config: BiasConfig) -> tuple[list[str], str, str, Any]:
    """The label's values, the favourable one, and the SQL (with its parameter) that is true for it; an
    ``InputError`` when the label is not binary or the favourable value is unknown or never occurs."""
    labels = _domain(engine, data, config.label, limit=3)
    if not labels:
        raise InputError(f"label column {config.label!r} has no values")
    if len(labels) > 2:
        raise InputError(
            f"label column {config.label!r} is not binary (values include {', '.join(labels)}); "
            "classification fairness metrics need a two-valued label"
        )
    positive = config.positive_label or _positive_default(labels)
    if positive is None:
        raise InputError(
            f"which value of {config.label!r} is the favourable outcome? Its values are {', '.join(labels)}; "
            "pass the positive label"
        )
    y_sql, y_param = _equals(data, config.label, positive, "y")
    occurs = rows(engine, f"SELECT count(*) AS n FROM {data.name} WHERE {y_sql}", {"y": y_param})[0][0]
    if occurs == 0:
        raise InputError(
            f"positive label {positive!r} never occurs in {config.label!r} (its values: {', '.join(labels)})"
        )
    return labels, positive, y_sql, y_param


def _predicted_positive(engine: Engine, data: TableInfo, config: BiasConfig, labels: list[str],
                        positive: str) -> tuple[str, Any, str, str]:
    """The SQL (and its parameter) true where the model predicts the favourable outcome, what the prediction is
    called, and the SQL true where it is present: from a score and its threshold, or from predicted labels."""
    if config.score is not None:
        if not data.is_numeric(config.score):
            raise InputError(f"score column {config.score!r} is {data.columns[config.score]}, not numeric")
        # a NaN score is missing, not "above every threshold"
        return (f"CAST({quote(config.score)} AS DOUBLE) >= $p", float(config.threshold),
                f"{config.score} >= {config.threshold:g}", data.present(config.score))
    assert config.prediction is not None
    preds = _domain(engine, data, config.prediction, limit=3)
    # numbers compare as numbers (1 = 1.0), so only text values must match the label's exactly
    both_numeric = data.is_numeric(config.prediction) and data.is_numeric(config.label)
    if len(preds) > 2 or (not both_numeric and not set(preds) <= set(labels) | {positive}):
        raise InputError(
            f"prediction column {config.prediction!r} has values {', '.join(preds)}, which are not the "
            f"label's values ({', '.join(labels)}); give predicted labels or a score with a threshold"
        )
    p_sql, p_param = _equals(data, config.prediction, positive, "p")
    return p_sql, p_param, config.prediction, data.present(config.prediction)


def _per_attribute(cells: Mapping[tuple[str, ...], Counts], attrs: list[str],
                   config: BiasConfig) -> tuple[list[AttributeBias], list[AttributeBias], list[str]]:
    """The metrics of each attribute with two or more groups, of each pair of them (when asked), and why an
    attribute was skipped; an ``InputError`` when none can be compared."""
    warnings: list[str] = []
    results: list[AttributeBias] = []
    usable: list[int] = []
    for i, a in enumerate(attrs):
        marg = _marginal(cells, (i,))
        if len(marg) < 2:
            warnings.append(f"protected attribute {a!r} has a single value ({next(iter(marg), 'none')}); "
                            "nothing to compare, skipped")
            continue
        usable.append(i)
        results.append(attribute_bias(a, {k[0]: v for k, v in marg.items()}, config.min_group_size))
    if not results:
        raise InputError("no protected attribute has two or more groups to compare: " + "; ".join(warnings))
    inter: list[AttributeBias] = []
    if config.intersections:
        for i, j in combinations(usable, 2):
            marg = _marginal(cells, (i, j))
            inter.append(attribute_bias(f"{attrs[i]}×{attrs[j]}", {f"{k[0]}|{k[1]}": v for k, v in marg.items()},
                                        config.min_group_size))
    return results, inter, warnings


def _marginal(cells: Mapping[tuple[str, ...], Counts], idx: tuple[int, ...]) -> dict[tuple[str, ...], Counts]:
    out: dict[tuple[str, ...], Counts] = {}
    for key, c in cells.items():
        k = tuple(key[i] for i in idx)
        out[k] = out.get(k, Counts()) + c
    return out


def bias_file(
    data: Any, config: BiasConfig, *, progress: ProgressFn = no_progress, engine: EngineChoice | None = None
) -> BiasResult:
    """:func:`compute_bias` on a CSV/Parquet/Arrow file or a DataFrame, or on Spark (``engine``) a Parquet path or
    a table name."""
    with opened_engine(engine, data=data) as (eng, infos):
        return compute_bias(eng, infos["data"], config, progress=progress)


