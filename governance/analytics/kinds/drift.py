"""Evidence kind ``drift``: reference vs current data per column, the dataset drift share and the importance-weighted
drift (the calculation: :mod:`governance.analytics.drift`).

Its plan weighs each feature by what the model relies on (mean |SHAP| of the version's ``explain`` evidence, else the
registry's feature importances, else equal weights, said so); drift never carries over a promotion, because every
environment has its own monitoring data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import InputError, NotFound
from governance.analytics.kinds.base import (
    OUTPUT_COLUMNS,
    EvidenceKind,
    Plan,
    PlanInput,
    evidence_caption,
    first,
    label_of,
    records_from,
    scalar_rows,
)
from governance.document import Block, Chart, Charts, Missing, Node, Spacer, kv, para, records

if TYPE_CHECKING:
    from governance.analytics.drift import DriftConfig
    from governance.catalog import Catalog, Version
    from governance.config import Settings, Workspace

NAME = "drift"


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"


# where the weights of the importance-weighted drift come from, and what a share of them is called
WEIGHT_SOURCES = ("shap", "registry", "given", "equal")
WEIGHT_WORDS = {"shap": "of the model's attribution", "registry": "of the registry's feature importance",
                "given": "of the given weights", "equal": "of the features, weighed equally"}
WEIGHT_NOTES = {"shap": "mean |SHAP| of the version's explainability evidence",
                "registry": "the registry's feature importances (no explainability evidence)",
                "given": "weights given with the command",
                "equal": "equal weights: no explainability evidence and no registry feature importances"}


def _percent(share: float) -> str:
    pct = share * 100
    return f"{pct:.0f} %" if pct >= 1 or pct == 0 else "<1 %"


@dataclass(frozen=True)
class DriftSummary:
    """Drift of a dataset: the share of drifted columns against the threshold that makes the dataset drifted, and
    the importance-weighted drift (the weight of the drifted features, the heaviest of them named)."""

    KIND: ClassVar[str] = NAME

    drift_share: float | None = None
    dataset_drifted: bool | None = None
    drifted_columns: tuple[str, ...] = ()
    n_columns: int | None = None
    threshold: float | None = None
    weighted_drift: float | None = None
    weights_source: str | None = None
    weights_ref: str | None = None
    heaviest: tuple[tuple[str, float], ...] = ()  # drifted features and their share of the weight, heaviest first
    problems: tuple[str, ...] = ()  # "claim_amount: missing in the current data", …

    @property
    def kind(self) -> str:
        """The evidence kind this summarises."""
        return self.KIND

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        out: dict[str, Any] = {"drift_share": self.drift_share, "dataset_drifted": self.dataset_drifted,
                               "drifted_columns": list(self.drifted_columns), "n_columns": self.n_columns,
                               "threshold": self.threshold}
        if self.weighted_drift is not None:  # rows stored before weighting keep their exact form
            out.update(weighted_drift=self.weighted_drift, weights_source=self.weights_source,
                       weights_ref=self.weights_ref, heaviest=[[c, w] for c, w in self.heaviest],
                       problems=list(self.problems))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DriftSummary:
        """Read the stored JSON form (missing keys stay unknown)."""
        return cls(drift_share=data.get("drift_share"), dataset_drifted=data.get("dataset_drifted"),
                   drifted_columns=tuple(str(c) for c in data.get("drifted_columns") or ()),
                   n_columns=data.get("n_columns"), threshold=data.get("threshold"),
                   weighted_drift=data.get("weighted_drift"), weights_source=data.get("weights_source"),
                   weights_ref=data.get("weights_ref"),
                   heaviest=tuple((str(c), float(w)) for c, w in data.get("heaviest") or ()),
                   problems=tuple(str(p) for p in data.get("problems") or ()))

    @property
    def headline(self) -> str:
        """The drift in one sentence, heaviest feature first: ``claim_amount (41 % of the model's attribution) and
        vehicle_age (2 %) drifted``."""
        if not self.drifted_columns:
            return "no column drifted"
        if not self.heaviest:
            return f"{', '.join(self.drifted_columns)} drifted, none of them a weighted model feature"
        words = WEIGHT_WORDS.get(self.weights_source or "equal", "of the weight")
        named = [f"{c} ({_percent(w)} {words})" if i == 0 else f"{c} ({_percent(w)})"
                 for i, (c, w) in enumerate(self.heaviest)]
        text = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
        rest = len(self.drifted_columns) - len(self.heaviest)
        return f"{text} drifted" + (f" (and {rest} column{'s' if rest > 1 else ''} of no weight)" if rest else "")

    @property
    def weights_note(self) -> str:
        """Where the weights come from, with the evidence they are read from."""
        source = self.weights_source or "equal"
        return WEIGHT_NOTES.get(source, source) + (f" {self.weights_ref}" if self.weights_ref else "")

    def lines(self) -> list[str]:
        """The key numbers in words."""
        cols = self.drifted_columns
        verdict = {True: "drifted", False: "not drifted"}.get(self.dataset_drifted, "—")  # type: ignore[arg-type]
        n = "?" if self.n_columns is None else self.n_columns
        out = [f"drift share {_num(self.drift_share)}: dataset {verdict}",
               f"{len(cols)} of {n} columns drifted" + (f": {', '.join(cols)}" if cols else "")]
        if self.weighted_drift is not None:
            out.append(f"importance-weighted drift {_num(self.weighted_drift)} "
                       f"({WEIGHT_NOTES.get(self.weights_source or 'equal', self.weights_source)}): {self.headline}")
        out += [f"failing: {p}" for p in self.problems]
        return out

    def report_rows(self) -> list[tuple[str, Any]]:
        """The scalar values a report's key-value table prints, by name."""
        return scalar_rows([("dataset_drifted", self.dataset_drifted), ("drift_share", self.drift_share),
                            ("n_columns", self.n_columns), ("threshold", self.threshold),
                            ("weighted_drift", self.weighted_drift), ("weights", self.weights_source)])


# -- the plan: which columns, weighed how -------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureWeights:
    """How much a version's model relies on each feature, and where that comes from (see :func:`drift_weights`)."""

    weights: dict[str, float]
    source: str  # shap | registry | equal
    ref: str | None = None  # the explain evidence the weights are read from


def drift_weights(catalog: Catalog, version: Version) -> FeatureWeights:
    """The weights of ``version``'s features for the importance-weighted drift: mean |SHAP| from its explain evidence
    (its own, or its source's when promoted unchanged); else the registry's feature importances (metadata
    ``feature_importances``: JSON, or ``name=value`` pairs); else equal weights over its ``features``; else none
    (every compared column then weighs the same). The source is recorded and said wherever the figure is shown."""
    from governance.analytics.evidence import evidence_through_lineage

    for kind in KIND.reads:
        found = evidence_through_lineage(catalog, version.version_id, kind)
        if found is None:
            continue
        shap = {str(x["feature"]): float(x["mean_abs_shap"]) for x in found.result.get("importance") or ()
                if isinstance(x.get("mean_abs_shap"), int | float) and math.isfinite(x["mean_abs_shap"])}
        if sum(shap.values()) > 0:
            return FeatureWeights(shap, "shap", found.evidence_id)
    registry = registry_importances(version.metadata.get("feature_importances"))
    if registry and sum(registry.values()) > 0:
        return FeatureWeights(registry, "registry")
    features = [f for f in str(version.metadata.get("features") or "").split(",") if f]
    return FeatureWeights(dict.fromkeys(features, 1.0), "equal")


def registry_importances(value: Any) -> dict[str, float]:
    """Feature importances as a registry records them: a mapping, its JSON text, or ``name=value,name=value``;
    unreadable entries are left out."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                return {}
        else:
            value = dict(part.split("=", 1) for part in text.split(",") if part.count("=") == 1)
    out: dict[str, float] = {}
    for name, weight in (value.items() if isinstance(value, Mapping) else ()):
        try:
            number = float(weight)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number) and number >= 0:
            out[str(name).strip()] = number
    return out


def drift_plan(settings: Settings, version: Version, weights: FeatureWeights | None = None) -> DriftConfig:
    """The drift configuration used for ``version``: model outputs and the label are not features; each feature's
    drift weighs what the model relies on it (``weights``, from :func:`drift_weights`)."""
    from governance.analytics.drift import DriftConfig

    w = weights or FeatureWeights({}, "equal")
    return DriftConfig(exclude=(label_of(settings, version), *OUTPUT_COLUMNS), weights=dict(w.weights), weights_source=w.source,
                       weights_ref=w.ref)


def plan(given: PlanInput) -> Plan:
    """The drift configuration of the version, weighed by its model's attribution."""
    config = drift_plan(given.settings, given.version, drift_weights(given.catalog, given.version))
    return Plan(config, {"config": config.as_dict()})


def compute(files: Mapping[str, Path], planned: Plan, progress: Any, engine: Any) -> Any:
    """Drift of the current file against the reference file."""
    from governance.analytics.drift import drift_files

    return drift_files(files["reference"], files["current"], planned.config, progress=progress, engine=engine)


def result_from_dict(data: Mapping[str, Any]) -> Any:
    """The typed drift result of a stored row."""
    from governance.analytics.drift import result_from_dict as read

    return read(data)


# -- report ----------------------------------------------------------------------------------------------------------


def drift_records(item: Any) -> list[dict[str, Any]]:
    """Per-column drift rows of a drift evidence result."""
    res = item.result
    for key in ("columns", "per_column", "features", "metrics"):
        if key in res:
            rows = records_from(res[key], "column")
            if rows:
                return rows
    return []


def drift_findings(item: Any) -> list[Node]:
    """The drift that matters in words: the heaviest drifted features, how the weights were found, failing findings."""
    s = item.summary
    if not isinstance(s, DriftSummary) or s.weighted_drift is None:
        return []
    out: list[Node] = [para(f"Importance-weighted drift {s.weighted_drift:.2f} (weights: {s.weights_note}): "
                            f"{s.headline}.")]
    if s.problems:
        out.append(para("Failing findings (counted as drifted): " + "; ".join(s.problems) + "."))
    return out


def _chart(item: Any, rows: list[dict[str, Any]], charts: Charts) -> dict[str, Any] | None:
    spec = charts.spec("drift_chart", item.result)
    if spec is None and rows:
        points = [{"column": str(x.get("column")), "score": float(v),
                   "drifted": str(bool(first(x, "drifted", "drift_detected")))}
                  for x in rows if isinstance(v := first(x, "score", "statistic", "value", "psi"), int | float)]
        if points:
            spec = charts.bars(points, x="score", y="column", color="drifted", title="Drift score by column")
    return spec


def block(f: Any, charts: Charts) -> list[Node]:
    """Report block ``drift``: the summary, the weighted drift in words, the per-column table and the chart."""
    item = f.evidence.get(NAME)
    if item is None:
        raise Missing(f"data drift analysis: {f.evidence_notes.get(NAME, 'no drift evidence')}")
    rows = drift_records(item)
    out: list[Node] = []
    summary = item.summary.report_rows()
    if summary:
        out.append(kv(summary))
    out += drift_findings(item)
    if rows:
        out += [Spacer(4), records(rows, ("column", "method", "stattest", "score", "statistic", "value",
                                          "threshold", "psi", "drifted", "drift_detected"))]
    spec = _chart(item, rows, charts)
    if spec is not None:
        out.append(Chart(spec, 0.8))
    if not out:
        raise Missing(f"per-column drift results in evidence {item.evidence_id}")
    return [*out, evidence_caption(item, f.version.version_id)]


KIND = EvidenceKind(
    name=NAME, inputs=("reference", "current"), summary=DriftSummary, plan=plan, compute=compute,
    result_from_dict=result_from_dict, reads=("explain",), current_input="current",
    blocks=(("drift", Block("Data drift", block, "drift evidence")),),
)


# -- Evidently's interactive report of a drift evidence row ------------------------------------------------------


def _report_path(workspace: Workspace, evidence: Any) -> Path:
    return workspace.cache_dir / "reports" / f"{evidence.evidence_id}-evidently.html"


def cached_drift_report(workspace: Workspace, evidence: Any) -> Path | None:
    """The Evidently report already built for a drift evidence row, or None."""
    path = _report_path(workspace, evidence)
    return path if path.exists() else None


def drift_report_html(workspace: Workspace, evidence: Any, *, max_rows: int = 100_000) -> Path:
    """Evidently's interactive drift report for a drift evidence row (≤ ``max_rows`` per side), cached by evidence id.

    The files are found by the sha256 the row recorded (the path it was computed from, or an upload in the
    workspace cache): nothing is fetched again.
    """
    from governance.analytics.drift import evidently_report_html
    from governance.analytics.drift import result_from_dict as read

    if evidence.kind != NAME:
        raise InputError(f"{evidence.evidence_id} is {evidence.kind} evidence, not {NAME}")
    out = _report_path(workspace, evidence)
    if out.exists():
        return out
    paths = []
    for side in KIND.inputs:
        info = evidence.inputs.get(side) or {}
        path = _locate(workspace, info)
        if path is None:
            raise NotFound(f"the {side} file of {evidence.evidence_id} ({info.get('uri')}) is no longer available")
        paths.append(path)
    html = evidently_report_html(paths[0], paths[1], read(evidence.result), max_rows=max_rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def _locate(workspace: Workspace, info: Mapping[str, Any]) -> Path | None:
    """A local file with the recorded sha256: an upload in the cache, or the version's file via its URI."""
    from core.hashing import sha256_file_remembered

    digest = info.get("sha256")
    if not digest:
        return None
    recorded = Path(str(info.get("path") or ""))
    if info.get("path") and recorded.is_file() and sha256_file_remembered(recorded) == digest:
        return recorded
    for candidate in sorted((workspace.cache_dir / "uploads").glob(f"{digest}*")):
        if not candidate.name.endswith(".part"):
            return candidate
    return None
