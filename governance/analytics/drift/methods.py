"""The registry of drift tests: each a pure function of a column's :class:`Aggregates`, a default threshold and
help text, registered once in :data:`METHODS`; and the corrections of p-values across columns.

scipy is imported by the p-value tests when they run (K-S, chi-square, Z): importing it costs about a second of CPU,
and the large-data defaults (normed Wasserstein, Jensen-Shannon) need only numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InputError

NUMERIC = "numeric"
CATEGORICAL = "categorical"
KINDS = (NUMERIC, CATEGORICAL)
CORRECTIONS = ("bonferroni", "holm", "fdr_bh")


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
    """Jensen-Shannon distance (natural log) over Evidently's bins: ``scipy.spatial.distance.jensenshannon``,
    written out in numpy (the same operations, so the same number)."""
    ref, cur = binned_shares(agg, False)
    p, q = ref / np.sum(ref), cur / np.sum(cur)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0)
        right = np.where(q > 0, q * np.log(q / m), 0.0)
    return float(np.sqrt((np.sum(left) + np.sum(right)) / 2.0))


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
    from scipy import stats

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
    from scipy import stats

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
    from scipy import stats

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
