"""Evidence kind ``explain``: SHAP explanation of the version's model on its validation data (the calculation:
:mod:`governance.analytics.explain`), global and per protected group.

An explanation is about the artifact and its validation data, so it holds for a copy promoted unchanged (same
artifact sha256); the drift kind reads it to weigh features.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from core.errors import InputError
from governance.analytics.kinds.base import (
    OUTPUT_COLUMNS,
    EvidenceKind,
    Plan,
    PlanInput,
    dataclass_doc,
    evidence_caption,
    first,
    records_from,
    scalar_rows,
)
from governance.document import Block, Chart, Charts, Missing, Node, para, table

NAME = "explain"


@dataclass(frozen=True)
class ExplainSummary:
    """The most important features (mean |SHAP|), how well the explanation adds up, and the explainer used."""

    KIND: ClassVar[str] = NAME

    top_features: tuple[tuple[str, float | None], ...] = ()
    additivity_max_error: float | None = None
    explainer: str | None = None

    @property
    def kind(self) -> str:
        """The evidence kind this summarises."""
        return self.KIND

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {"top_features": [[name, value] for name, value in self.top_features],
                "additivity_max_error": self.additivity_max_error, "explainer": self.explainer}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExplainSummary:
        """Read the stored JSON form (a bare feature name counts as a feature without its value)."""
        top = tuple((str(t[0]), t[1] if len(t) > 1 else None) if isinstance(t, list | tuple) else (str(t), None)
                    for t in data.get("top_features") or () if t not in (None, [], ()))
        return cls(top_features=top, additivity_max_error=data.get("additivity_max_error"),
                   explainer=data.get("explainer"))

    @property
    def top_names(self) -> list[str]:
        """The feature names, most important first."""
        return [name for name, _ in self.top_features]

    def lines(self) -> list[str]:
        """The key numbers in words."""
        return [f"top features: {', '.join(self.top_names[:5]) or '—'}", f"explainer: {self.explainer or '—'}"]

    def report_rows(self) -> list[tuple[str, Any]]:
        """The scalar values a report's key-value table prints, by name."""
        return scalar_rows([("additivity_max_error", self.additivity_max_error), ("explainer", self.explainer)])


# -- the plan and the calculation -----------------------------------------------------------------------------------


def plan(given: PlanInput) -> Plan:
    """The explainer's sample sizes (the caller's, else the defaults), the model's features and its groups."""
    from governance.analytics.explain import ExplainConfig

    config = given.override or ExplainConfig()
    features = [f for f in (given.version.metadata.get("features") or "").split(",") if f]
    groups = list(given.model_config.protected_attributes)
    return Plan(config, {"config": dataclass_doc(config), "features": features, "groups": groups})


def compute(files: Mapping[str, Path], planned: Plan, progress: Any, engine: Any) -> Any:
    """SHAP explanation of the artifact on the validation file (the ``engine`` choice is for aggregates and does not
    apply: the sample is read with DuckDB in process)."""
    return explain_files(files["artifact"], files["validation"], list(planned.doc["features"]),
                         list(planned.doc["groups"]), planned.config, progress)


def explain_files(artifact: Path, validation: Path, features: list[str], groups: list[str], config: Any,
                  progress: Any) -> Any:
    """SHAP explanation of the model in ``artifact`` on a deterministic sample of ``validation`` (the model's
    ``features``, else its own feature names, else the numeric columns; per group of ``groups``)."""
    from governance.analytics.artifacts import load_model
    from governance.analytics.explain import explain_model
    from governance.analytics.io import opened, quote

    loaded = load_model(artifact)
    with opened(data=validation) as (con, infos):
        info = infos["data"]
        if not features:
            features = list(loaded.feature_names or [])
        if not features:
            skip = {"label", *OUTPUT_COLUMNS, *groups}
            features = [c for c in info.columns if c not in skip and info.is_numeric(c)]
        cols = list(dict.fromkeys([*features, *(g for g in groups if g in info.columns)]))
        missing = [c for c in features if c not in info.columns]
        if missing:
            raise InputError(f"the validation data lacks model feature(s) {', '.join(missing)}")
        # order by a hash of the row number: a deterministic sample that does not depend on thread scheduling
        limit = max(config.max_rows, config.background_rows) * 2
        frame = con.execute(
            f"SELECT {', '.join(quote(c) for c in cols)} FROM (SELECT *, row_number() OVER () AS rn FROM data) "
            f"ORDER BY hash(rn + {int(config.seed)}) LIMIT {int(limit)}"
        ).df()
    present = [g for g in groups if g in frame.columns]
    return explain_model(loaded, frame, features, groups=frame[present] if present else None, config=config,
                         progress=progress)


def result_from_dict(data: Mapping[str, Any]) -> Any:
    """The typed explanation of a stored row."""
    from governance.analytics.explain import result_from_dict as read

    return read(data)


# -- report ----------------------------------------------------------------------------------------------------------


def importance_records(item: Any) -> list[dict[str, Any]]:
    """Global feature importance rows (feature, mean |SHAP|) of an explainability evidence result, largest first."""
    res = item.result
    for key in ("global", "importance", "mean_abs_shap", "global_importance", "features"):
        if key in res:
            rows = records_from(res[key], "feature")
            for r in rows:
                if "importance" not in r:
                    r["importance"] = first(r, "mean_abs_shap", "value", "mean_abs")
            rows = [r for r in rows if isinstance(r.get("importance"), int | float)]
            return sorted(rows, key=lambda r: (-float(r["importance"]), str(r.get("feature"))))
    return []


def block(f: Any, charts: Charts) -> list[Node]:
    """Report block ``explain``: the explainer, the ten most important features and the importance chart."""
    item = f.evidence.get(NAME)
    if item is None:
        raise Missing(f"SHAP feature importance: {f.evidence_notes.get(NAME, 'no explainability evidence')}")
    rows = importance_records(item)
    if not rows:
        raise Missing(f"global importance values in explainability evidence {item.evidence_id}")
    spec = charts.spec("importance_chart", item.result)
    if spec is None:
        points = [{"feature": str(x["feature"]), "importance": float(x["importance"])} for x in rows[:20]]
        spec = charts.bars(points, x="importance", y="feature", title="Global importance (mean |SHAP|)",
                               x_title="mean |SHAP value|")
    method = first(item.result, "explainer", "method") or (
        item.summary.explainer if isinstance(item.summary, ExplainSummary) else None)
    return [
        para(f"Explainer: {method or 'not recorded'}. Ten most important features:"),
        table(("Feature", "Mean |SHAP|"), [(x["feature"], x["importance"]) for x in rows[:10]], (0.6, 0.4)),
        Chart(spec, 0.8),
        evidence_caption(item, f.version.version_id),
    ]


def kept_rows(stored: Mapping[str, Any]) -> dict[str, Any]:
    """What ``countersign review --json`` adds: the rows of a stored explanation that have a local explanation,
    each with its model output."""
    return {"local_rows": [{"row": x["row"], "output": x["output"]} for x in result_from_dict(stored).locals_kept]}


KIND = EvidenceKind(
    name=NAME, inputs=("artifact", "validation"), summary=ExplainSummary, plan=plan, compute=compute,
    result_from_dict=result_from_dict, inherits=True,
    blocks=(("explain", Block("Explainability (SHAP)", block, "explainability evidence")),),
    json_extras=kept_rows,
)
