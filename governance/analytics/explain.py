"""Which features drive a model: SHAP values, globally, per protected group and for a few rows.

The explainer follows the model: shap's ``TreeExplainer`` for tree ensembles (scikit-learn, XGBoost, LightGBM),
``LinearExplainer`` for linear models, and a ``PermutationExplainer`` on a bounded sample with a bounded background
for anything else. Additivity (contributions + base value = the model's output in the explainer's space) is checked
on every explained row against the model's own output, computed independently. Work runs with one native thread
(``threadpool_limits(1)``) because HistGradientBoosting's predictions jitter with OpenMP threads, and in chunks so a
time budget can stop it early with a progress callback.

Local explanations are kept for a bounded set of rows (:data:`MAX_LOCAL_ROWS`, chosen by :func:`kept_positions`):
the configured row, the rows with the highest and the lowest model output, and the first rows. ``local`` stays the
configured row, so evidence stored before the set existed (no ``local_rows``) still draws its one waterfall.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InputError
from core.progress import ProgressFn, no_progress
from governance.analytics.artifacts import LoadedModel, XGBoostModel
from governance.analytics.summaries import ExplainSummary

_TREE_TYPES = (
    "GradientBoostingClassifier", "GradientBoostingRegressor", "RandomForestClassifier", "RandomForestRegressor",
    "ExtraTreesClassifier", "ExtraTreesRegressor", "DecisionTreeClassifier", "DecisionTreeRegressor",
    "HistGradientBoostingClassifier", "HistGradientBoostingRegressor", "IsolationForest",
)
_LINEAR_TYPES = ("LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet", "SGDClassifier",
                 "SGDRegressor", "LinearSVC", "RidgeClassifier")
# how many rows keep a local explanation, and how many of them are the highest / the lowest model outputs
MAX_LOCAL_ROWS = 25
EXTREME_LOCAL_ROWS = 5


@dataclass(frozen=True)
class ExplainConfig:
    """How much to explain. Every field is part of the evidence's configuration hash.

    Args:
        max_rows: rows of the data explained (a deterministic sample when there are more).
        background_rows: background rows for the linear and permutation explainers.
        permutation_max_rows: row cap when the permutation fallback is used (it is ~100× slower).
        budget_seconds: stop explaining further chunks after this long (the rows done so far are kept).
        local_row: index (in the explained sample) of the row whose local explanation is ``local`` (the default
            of the waterfall); a few more rows are kept beside it (:func:`kept_positions`).
        seed: sampling seed.
    """

    max_rows: int = 2000
    background_rows: int = 100
    permutation_max_rows: int = 100
    budget_seconds: float = 5.0
    local_row: int = 0
    seed: int = 42


@dataclass(frozen=True)
class ExplainResult:
    """SHAP importances of one model on one data sample.

    ``local`` is the configured row's local explanation: ``row`` (its position in the data passed in), ``values``
    and ``contributions`` per feature, ``base_value`` and ``output`` (the model's own, in the explainer's space).
    ``local_rows`` holds the same record for every kept row, the configured one first; it is empty in evidence
    stored before rows were kept (use :attr:`kept_rows` and :meth:`local_at`, which fall back to ``local``).
    """

    explainer: str
    output: str  # log-odds | probability | value
    features: tuple[str, ...]
    n_rows: int
    background_rows: int
    importance: tuple[tuple[str, float], ...]
    group_importance: dict[str, dict[str, dict[str, float]]]
    local: dict[str, Any]
    additivity_max_error: float
    seconds: float
    stopped_early: bool = False
    rows_per_second: float = 0.0
    warnings: tuple[str, ...] = field(default_factory=tuple)
    local_rows: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def locals_kept(self) -> tuple[dict[str, Any], ...]:
        """The local explanations kept, the configured row first (just ``local`` for older evidence)."""
        if self.local_rows:
            return self.local_rows
        return (self.local,) if self.local else ()

    @property
    def kept_rows(self) -> tuple[int, ...]:
        """The rows (positions in the data explained) that have a local explanation, the configured one first."""
        return tuple(int(x["row"]) for x in self.locals_kept)

    def local_at(self, row: int | None = None) -> dict[str, Any]:
        """The local explanation of ``row`` (default: the configured row).

        Raises:
            InputError: ``row`` is not one of :attr:`kept_rows`, or the result keeps no local explanation.
        """
        if row is None:
            if not self.local:
                raise InputError("this explanation keeps no local explanation; recompute the evidence")
            return self.local
        for x in self.locals_kept:
            if int(x["row"]) == int(row):
                return x
        kept = ", ".join(str(r) for r in self.kept_rows) or "none"
        raise InputError(f"row {row} has no local explanation in this evidence; kept rows: {kept}")

    def summary(self, top: int = 10) -> ExplainSummary:
        """The small record stored as the evidence summary."""
        return ExplainSummary(top_features=tuple(self.importance[:top]),
                              additivity_max_error=self.additivity_max_error, explainer=self.explainer)

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        d = asdict(self)
        d["importance"] = [{"feature": n, "mean_abs_shap": v} for n, v in self.importance]
        return d


def result_from_dict(d: Mapping[str, Any]) -> ExplainResult:
    """Rebuild an :class:`ExplainResult` from :meth:`ExplainResult.to_dict` output (stored evidence)."""
    return ExplainResult(**{
        **d, "features": tuple(d["features"]), "importance": tuple((x["feature"], x["mean_abs_shap"]) for x in d["importance"]),
        "warnings": tuple(d.get("warnings", ())), "local_rows": tuple(d.get("local_rows", ())),
    })


def kept_positions(output: np.ndarray, configured: int, limit: int = MAX_LOCAL_ROWS,
                   extremes: int = EXTREME_LOCAL_ROWS) -> list[int]:
    """Positions (in the explained sample) whose local explanation is kept: at most ``limit``, no repeats.

    In this order: ``configured``; the ``extremes`` highest model outputs, highest first; the ``extremes`` lowest,
    lowest first; then the first rows of the sample until ``limit`` is reached. Ties keep sample order, so the
    same outputs always give the same rows.
    """
    n = len(output)
    if n == 0 or limit <= 0:
        return []
    by_output = np.argsort(output, kind="stable")
    highest = np.argsort(-output, kind="stable")[:extremes]
    candidates = [configured, *highest.tolist(), *by_output[:extremes].tolist(), *range(n)]
    return [int(p) for p in dict.fromkeys(candidates)][:min(limit, n)]


def _local(position: int, row: int, X: np.ndarray, shap_values: np.ndarray, base_values: np.ndarray,
           output: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """One row's local explanation record (see :class:`ExplainResult`)."""
    return {
        "row": int(row),
        "values": {n: float(X[position, i]) for i, n in enumerate(names)},
        "contributions": {n: float(shap_values[position, i]) for i, n in enumerate(names)},
        "base_value": float(base_values[position]),
        "output": float(output[position]),
    }


def _estimator(model: Any) -> Any:
    return model.steps[-1][1] if hasattr(model, "steps") else model


def _choose(loaded: LoadedModel) -> str:
    model = loaded.model
    if isinstance(model, XGBoostModel) or loaded.format == "lightgbm":
        return "tree"
    name = type(model).__name__
    if name in _TREE_TYPES:
        return "tree"
    if name in _LINEAR_TYPES:
        return "linear"
    return "permutation"


def _model_output(loaded: LoadedModel, how: str) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The model's own output in the space the explainer explains, and that space's name."""
    m = loaded.model
    classifier = loaded.kind == "classifier"
    if isinstance(m, XGBoostModel):
        import xgboost as xgb

        return (lambda X: m.booster.predict(xgb.DMatrix(X), output_margin=True)), \
            ("log-odds" if classifier else "value")
    if loaded.format == "lightgbm":
        return (lambda X: m.predict(X, raw_score=True)), ("log-odds" if classifier else "value")
    if not classifier:
        return m.predict, "value"
    if how in ("tree", "linear") and hasattr(m, "decision_function") and type(m).__name__ not in (
            "RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier"):
        return (lambda X: np.asarray(m.decision_function(X)).reshape(len(X), -1)[:, -1]), "log-odds"
    return (lambda X: m.predict_proba(X)[:, 1]), "probability"


def _positive_class(values: Any, base: Any) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values)
    b = np.asarray(base, dtype=float)
    if v.ndim == 3:  # (rows, features, classes): explain the positive class
        v = v[:, :, -1]
        b = b[..., -1] if b.ndim >= 1 and b.shape[-1] > 1 else b
    return v, np.broadcast_to(b.reshape(-1) if b.ndim else b, (v.shape[0],)).astype(float)


def _complete_rows(data: pd.DataFrame, features: Sequence[str], groups: pd.DataFrame | None
                   ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None, list[str]]:
    """The feature matrix of the rows with every feature value, their row numbers in ``data``, the groups of those
    rows, and a warning when some were left out (the data contract: NULL, NaN and ±inf are missing)."""
    missing = [f for f in features if f not in data.columns]
    if missing:
        raise InputError(f"the data lacks model feature(s) {', '.join(missing)}")
    if data.empty:
        raise InputError("no rows to explain")
    try:
        X_all = data[list(features)].to_numpy(dtype=float)
    except (TypeError, ValueError):
        bad = [f for f in features if not pd.api.types.is_numeric_dtype(data[f])]
        raise InputError(f"model feature(s) {', '.join(bad)} are not numeric; encode them as the model expects") from None
    complete = np.isfinite(X_all).all(axis=1)
    positions = np.flatnonzero(complete)  # row numbers in ``data`` of the rows kept
    warnings: list[str] = []
    if not complete.all():
        if not complete.any():
            raise InputError("every row misses a model feature value (NULL, NaN or ±inf): nothing to explain")
        warnings.append(f"{int((~complete).sum())} rows with a missing feature value (NULL, NaN or ±inf) left out")
        X_all = X_all[complete]
        if groups is not None:
            groups = groups.iloc[positions].reset_index(drop=True)
    return X_all, positions, groups, warnings


def _explainer(loaded: LoadedModel, how: str, f_out: Any, background: np.ndarray) -> tuple[Any, str]:
    """The shap explainer ``how`` names for ``loaded``, and its name."""
    import shap

    model = loaded.model
    if how == "tree":
        return shap.TreeExplainer(model.booster if isinstance(model, XGBoostModel) else model), "TreeExplainer"
    masker = shap.maskers.Independent(background, max_samples=len(background))
    if how == "linear":
        return shap.LinearExplainer(model, masker), "LinearExplainer"
    return shap.PermutationExplainer(f_out, masker), "PermutationExplainer"


def _shap_values(explainer: Any, how: str, X: np.ndarray, config: ExplainConfig, progress: ProgressFn,
                 warnings: list[str]) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """SHAP and base values of the rows of ``X`` in chunks, until done or the time budget is spent: the values,
    the base values, how many rows were explained and whether the budget stopped it (said in ``warnings``)."""
    chunk = 10 if how == "permutation" else 500
    budget_from = time.perf_counter()
    if how == "permutation":
        # shap JIT-compiles its permutation routines on first use (10-20 s once per process): keep that out
        # of the time budget, and say so when it happened
        explainer(X[:1], max_evals=2 * X.shape[1] + 1, silent=True)
        warm = time.perf_counter() - budget_from
        if warm > 1.0:
            warnings.append(f"shap compiled its permutation explainer in {warm:.1f} s (once per process)")
        budget_from = time.perf_counter()
    values: list[np.ndarray] = []
    bases: list[np.ndarray] = []
    done = 0
    while done < len(X):
        part = X[done:done + chunk]
        if how == "tree":
            raw = explainer.shap_values(part, check_additivity=False)
            base = explainer.expected_value
        else:
            exp = explainer(part) if how == "linear" else explainer(part, max_evals=2 * X.shape[1] + 1, silent=True)
            raw, base = exp.values, exp.base_values
        v, b = _positive_class(raw, base)
        values.append(v)
        bases.append(b)
        done += len(part)
        progress(f"explained {done} of {len(X)} rows", 0.05 + 0.85 * done / len(X))
        if done < len(X) and time.perf_counter() - budget_from > config.budget_seconds:
            warnings.append(f"time budget of {config.budget_seconds:g} s reached after {done} of {len(X)} rows")
            return np.vstack(values), np.concatenate(bases), done, True
    return np.vstack(values), np.concatenate(bases), done, False


def _group_importance(groups: pd.DataFrame | None, explained_idx: np.ndarray, shap_values: np.ndarray,
                      names: tuple[str, ...], order: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """Mean |SHAP| of each feature per group of each protected attribute (the explained rows only)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    if groups is None:
        return out
    g = groups.iloc[explained_idx].reset_index(drop=True)
    for attr in g.columns:
        keys = g[attr].astype("string").fillna("(missing)").to_numpy()
        out[attr] = {
            str(k): {names[i]: float(np.abs(shap_values[keys == k, i]).mean()) for i in order}
            for k in sorted(set(keys))
        }
    return out


def explain_model(
    loaded: LoadedModel,
    data: pd.DataFrame,
    features: Sequence[str],
    *,
    groups: pd.DataFrame | None = None,
    config: ExplainConfig = ExplainConfig(),
    progress: ProgressFn = no_progress,
) -> ExplainResult:
    """SHAP values of ``loaded`` on ``data[features]``.

    Args:
        loaded: a model from :func:`governance.analytics.artifacts.load_model`.
        data: rows to explain (already sampled to at most ``config.max_rows``; more are sampled here).
        features: the model's input columns, in the model's order.
        groups: protected attribute columns aligned with ``data`` (need not be model inputs).
        config: sample sizes, time budget and the local row.
        progress: called with a message and a fraction in [0, 1].

    Returns:
        An :class:`ExplainResult` with global, per-group and local explanations (the configured row and a few
        more, see :func:`kept_positions`) and the additivity error.

    Raises:
        InputError: a feature is missing or not numeric, or there are no rows.
    """
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    X_all, positions, groups, warnings = _complete_rows(data, features, groups)
    how = _choose(loaded)
    cap = min(config.max_rows, config.permutation_max_rows) if how == "permutation" else config.max_rows
    rng = np.random.default_rng(config.seed)
    idx = np.sort(rng.choice(len(X_all), size=cap, replace=False)) if len(X_all) > cap else np.arange(len(X_all))
    X = X_all[idx]
    bg_idx = rng.choice(len(X_all), size=min(config.background_rows, len(X_all)), replace=False)
    background = X_all[np.sort(bg_idx)]
    f_out, space = _model_output(loaded, how)

    with threadpool_limits(limits=1):
        progress(f"building the {how} explainer", 0.05)
        explainer, name = _explainer(loaded, how, f_out, background)
        shap_values, base_values, done, stopped = _shap_values(explainer, how, X, config, progress, warnings)
        X = X[:done]
        explained_idx = idx[:done]
        progress("checking additivity", 0.92)
        output = np.asarray(f_out(X), dtype=float).reshape(-1)
    additivity = float(np.max(np.abs(shap_values.sum(axis=1) + base_values - output)))

    names = tuple(features)
    mean_abs = np.abs(shap_values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    importance = tuple((names[i], float(mean_abs[i])) for i in order)
    group_importance = _group_importance(groups, explained_idx, shap_values, names, order)
    r = min(max(config.local_row, 0), len(X) - 1)
    local_rows = tuple(_local(p, positions[explained_idx[p]], X, shap_values, base_values, output, names)
                       for p in kept_positions(output, r))
    local = local_rows[0]
    seconds = time.perf_counter() - started
    progress("done", 1.0)
    return ExplainResult(
        explainer=name, output=space, features=names, n_rows=int(done), background_rows=len(background),
        importance=importance, group_importance=group_importance, local=local, additivity_max_error=additivity,
        seconds=seconds, stopped_early=stopped, rows_per_second=done / seconds if seconds else 0.0,
        warnings=tuple(warnings), local_rows=local_rows,
    )
