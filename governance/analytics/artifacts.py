"""Load model artifacts without running code from them.

Accepted: skops files whose every type is on a reviewed allow-list (:data:`SKOPS_ALLOWED`), native XGBoost models
(JSON or UBJ) and native LightGBM text models when LightGBM is installed. Pickle and joblib files, skops files with a
type off the list, and anything unrecognised are refused with :class:`UnsafeArtifact` saying how to convert.
The format is decided from the file's bytes, never from its name alone: a pickle renamed ``model.skops`` is refused.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InputError, UnsafeArtifact

# Types a skops file may contain beyond skops' own default-trusted set (builtins, numpy, scipy sparse, most
# sklearn estimators). Reviewed: each is a plain data container or an sklearn/numpy internal with no code hooks.
SKOPS_ALLOWED: frozenset[str] = frozenset({
    "sklearn.tree._tree.Tree",  # fitted trees of every sklearn tree ensemble: arrays of nodes and values
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # HistGradientBoosting's node arrays
})

HOW_TO_CONVERT = (
    "Save the model where it was trained in a format that loads without running code: scikit-learn as skops "
    "(`mlflow.sklearn.log_model(model, name=\"model\", serialization_format=\"skops\", "
    "skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)))`, or "
    "`skops.io.dump(model, \"model.skops\")`), XGBoost as `model.save_model(\"model.json\")`, LightGBM as "
    "`booster.save_model(\"model.txt\")`; or have the pipeline log its SHAP values (docs/analytics.md, \"SHAP "
    "values from the pipeline\"), and the explanation is read from them without loading the model."
)


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded safely, with what is known about it."""

    model: Any
    format: str  # skops | xgboost-json | xgboost-ubj | lightgbm
    path: Path
    kind: str  # classifier | regressor
    feature_names: tuple[str, ...] | None
    trusted_types: tuple[str, ...] = ()


def sniff(path: Path) -> str:
    """The artifact format from its leading bytes: pickle, zip, json, ubj, lightgbm, empty or unknown."""
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        return "empty"
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"  # protocol 2-5 header; joblib writes the same
    if head[:2] == b"PK":
        return "zip"
    if head.startswith((b"tree\n", b"tree\r\n")):
        return "lightgbm"
    text = head.lstrip()
    if text[:1] == b"{":
        # JSON continues with a quote or whitespace; UBJ with a type marker byte such as L, i or $
        return "json" if text[1:2] in (b'"', b"}", b"\n", b"\r", b" ", b"\t") else "ubj"
    if head[:1] in (b"(", b"c", b"]", b"}", b"I", b"S", b"N"):
        return "pickle"  # protocol 0/1 opcodes
    return "unknown"


def load_model(path: str | Path, *, allowed: frozenset[str] = SKOPS_ALLOWED) -> LoadedModel:
    """Load ``path`` if it is a safe format with only allowed types; raise :class:`UnsafeArtifact` otherwise.

    Args:
        path: the artifact file (a local path; fetch remote ones through the account's connector first).
        allowed: extra skops types trusted on top of skops' defaults (the reviewed allow-list by default).

    Returns:
        A :class:`LoadedModel`.

    Raises:
        UnsafeArtifact: pickle/joblib, a skops file with a type outside the allow-list, or an unknown format.
        InputError: the file is missing or empty.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such artifact file")
    kind = sniff(p)
    if kind == "empty":
        raise InputError(f"{p}: the artifact file is empty")
    if kind == "pickle":
        raise UnsafeArtifact(f"{p}: pickle/joblib files can run arbitrary code when loaded and are refused. {HOW_TO_CONVERT}")
    if kind == "zip":
        return _load_skops(p, allowed)
    if kind in ("json", "ubj"):
        return _load_xgboost(p, kind)
    if kind == "lightgbm":
        return _load_lightgbm(p)
    raise UnsafeArtifact(f"{p}: unrecognised model format; only skops, XGBoost JSON/UBJ and LightGBM text models "
                         f"are loaded. {HOW_TO_CONVERT}")


def _load_skops(p: Path, allowed: frozenset[str]) -> LoadedModel:
    import skops.io as sio

    try:
        with zipfile.ZipFile(p) as z:
            if "schema.json" not in z.namelist():
                raise UnsafeArtifact(f"{p}: a zip file but not a skops model (no schema.json). {HOW_TO_CONVERT}")
        untrusted = set(sio.get_untrusted_types(file=p))
    except zipfile.BadZipFile:
        raise InputError(f"{p}: damaged zip/skops file") from None
    except UnsafeArtifact:
        raise
    except Exception as exc:  # skops raises assorted errors on malformed schemas
        raise UnsafeArtifact(f"{p}: could not inspect the skops file ({exc}); refused") from None
    refused = sorted(untrusted - allowed)
    if refused:
        raise UnsafeArtifact(
            f"{p}: the skops file contains types outside Countersign's reviewed allow-list: {', '.join(refused)}. "
            "They could run code when loaded, so the file is refused. Re-export the model with standard "
            "scikit-learn estimators, or have the allow-list extended after a review."
        )
    trusted = sorted(untrusted)
    model = sio.load(p, trusted=trusted)
    return LoadedModel(model=model, format="skops", path=p, kind=_kind(model), feature_names=_features(model),
                       trusted_types=tuple(trusted))


def _require_optional(module: str, p: Path, what: str, error: type[InputError]) -> None:
    """Refuse with a clear error naming what to install when the optional package ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise error(f"{p}: {what}, but the optional package {module} is not installed here; install it with "
                    f"'pip install {module}' in Countersign's environment to load this model")


def _load_xgboost(p: Path, fmt: str) -> LoadedModel:
    _require_optional("xgboost", p, "an XGBoost model", InputError)
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(str(p))
    except xgb.core.XGBoostError as exc:
        raise InputError(f"{p}: not a valid XGBoost {fmt.upper()} model ({str(exc).splitlines()[0]})") from None
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    kind = "classifier" if objective.startswith(("binary:", "multi:")) else "regressor"
    model = XGBoostModel(booster, kind)
    return LoadedModel(model=model, format=f"xgboost-{fmt}", path=p, kind=kind,
                       feature_names=tuple(booster.feature_names) if booster.feature_names else None)


def _load_lightgbm(p: Path) -> LoadedModel:
    _require_optional("lightgbm", p, "looks like a LightGBM text model", UnsafeArtifact)
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(p))
    objective = str(booster.params.get("objective", ""))
    kind = "classifier" if objective.startswith(("binary", "multiclass")) else "regressor"
    return LoadedModel(model=booster, format="lightgbm", path=p, kind=kind,
                       feature_names=tuple(booster.feature_name()))


class XGBoostModel:
    """A native XGBoost booster behind the two methods explainers need (``predict`` / ``predict_proba``)."""

    def __init__(self, booster: Any, kind: str) -> None:
        self.booster = booster
        self.kind = kind

    def _dm(self, X: Any) -> Any:
        import xgboost as xgb

        return xgb.DMatrix(X, feature_names=list(X.columns) if hasattr(X, "columns") else None)

    def predict(self, X: Any) -> Any:
        """Class labels (classifier, threshold 0.5) or values (regressor)."""
        out = self.booster.predict(self._dm(X))
        return (out >= 0.5).astype(int) if self.kind == "classifier" and out.ndim == 1 else out

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities of a binary classifier."""
        import numpy as np

        p = self.booster.predict(self._dm(X))
        return np.column_stack([1 - p, p]) if p.ndim == 1 else p


def _kind(model: Any) -> str:
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    return "classifier" if hasattr(est, "predict_proba") or getattr(est, "_estimator_type", "") == "classifier" \
        else "regressor"


def _features(model: Any) -> tuple[str, ...] | None:
    names = getattr(model, "feature_names_in_", None)
    return tuple(str(n) for n in names) if names is not None else None
