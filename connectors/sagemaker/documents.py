"""Documents a model package points to (ModelMetrics, DriftCheckBaselines) and the numbers in SageMaker's formats:
model quality, Clarify bias and explainability reports, Model Monitor statistics."""

from __future__ import annotations

import re
from typing import Any

_BIAS_SECTIONS = ("pre_training_bias_metrics", "post_training_bias_metrics")
# (ModelMetrics section, key) -> the parser of metrics_from_document
_DOCUMENT_KINDS = {
    ("ModelQuality", "Statistics"): "quality",
    ("Bias", "Report"): "bias",
    ("Bias", "PreTrainingReport"): "bias",
    ("Bias", "PostTrainingReport"): "bias",
    ("Explainability", "Report"): "explainability",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def document_refs(desc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """report name -> (S3 URI, kind) for every document of ModelMetrics and DriftCheckBaselines."""
    out: dict[str, tuple[str, str]] = {}
    for top, prefix in (("ModelMetrics", ""), ("DriftCheckBaselines", "drift_")):
        for section, body in (desc.get(top) or {}).items():
            for key, ref in (body or {}).items():
                if isinstance(ref, dict) and ref.get("S3Uri"):
                    name = f"{prefix}{_snake(section)}_{_snake(key)}"
                    # only documents whose format we know are parsed; constraints and configs are kept as URIs
                    kind = "statistics" if (section, key) == ("ModelDataQuality", "Statistics") else ""
                    if top == "ModelMetrics":
                        kind = _DOCUMENT_KINDS.get((section, key), kind)
                    out[name] = (ref["S3Uri"], kind)
    if "model_quality_statistics" in out:
        out["model_metrics"] = out["model_quality_statistics"]
    for name in ("model_data_quality_statistics", "drift_model_data_quality_statistics"):
        if name in out:
            out.setdefault("baseline_statistics", out[name])
    return out


def metrics_from_document(kind: str, doc: Any) -> dict[str, float]:
    """Numbers in a model quality, Clarify bias or explainability document, under stable names.

    Model quality (Model Monitor / pipelines ``evaluation.json``): ``{"binary_classification_metrics": {"auc":
    {"value": 0.9}}}`` or a flat ``{"auc": 0.9}`` → ``auc``. Clarify bias ``analysis.json`` → ``bias.<facet>=<value>.<CODE>``
    (e.g. ``bias.gender=F.DPPL``). Clarify explainability → ``shap.<feature>``. Raises ValueError when the document is
    not a JSON object or holds no number where one is expected.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    out: dict[str, float] = {}
    if kind == "bias":
        for section in _BIAS_SECTIONS:
            facets = (doc.get(section) or {}).get("facets") or {}
            for facet, entries in facets.items():
                for entry in entries or []:
                    group = entry.get("value_or_threshold")
                    for m in entry.get("metrics") or []:
                        value = _numeric(m.get("value"))
                        if value is not None and m.get("name"):
                            out[f"bias.{facet}={group}.{m['name']}"] = value
        if not out and not any(s in doc for s in _BIAS_SECTIONS):
            raise ValueError("no pre_training_bias_metrics or post_training_bias_metrics section")
        return out
    if kind == "explainability":
        for method in (doc.get("explanations") or {}).values():
            for label_block in (method or {}).values():
                for feature, value in ((label_block or {}).get("global_shap_values") or {}).items():
                    number = _numeric(value)
                    if number is not None:
                        out[f"shap.{feature}"] = number
        if not out and "explanations" not in doc:
            raise ValueError("no explanations section")
        return out
    # model quality: sections of {name: {"value": x}}, else a flat mapping of numbers
    sections = {k: v for k, v in doc.items() if k.endswith("_metrics") and isinstance(v, dict)}
    for body in sections.values():
        for name, entry in body.items():
            number = _numeric(entry.get("value")) if isinstance(entry, dict) else _numeric(entry)
            if number is not None:
                out[name] = number
    if not sections:
        out.update({k: n for k, v in doc.items() if k != "version" and (n := _numeric(v)) is not None})
    if not out:
        raise ValueError("no numeric metric found (expected {'<problem>_metrics': {name: {'value': x}}} or {name: x})")
    return out


def feature_names_from_statistics(doc: Any) -> tuple[str, ...]:
    """Feature names, in order, from a Model Monitor ``statistics.json`` (empty when absent)."""
    if not isinstance(doc, dict):
        return ()
    return tuple(f["name"] for f in doc.get("features") or [] if isinstance(f, dict) and f.get("name"))
