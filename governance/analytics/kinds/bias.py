"""Evidence kind ``bias``: outcome fairness of the validation data per protected attribute (the calculation:
:mod:`governance.analytics.bias`), with its report blocks: the four-fifths table, accuracy per group and the
SageMaker Clarify metrics.

Bias is measured on the version's validation data through its own predictions, so it holds for a copy promoted
unchanged (same artifact sha256).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import InputError
from governance.analytics.kinds.base import (
    EvidenceKind,
    NotApplicable,
    Plan,
    PlanInput,
    dataclass_doc,
    evidence_caption,
    first,
    label_of,
    model_config_of,
    records_from,
    scalar_rows,
)
from governance.document import Block, Chart, Charts, Missing, Node, fmt, kv, para, records, table

if TYPE_CHECKING:
    from governance.analytics.bias import BiasConfig
    from governance.catalog import Version
    from governance.config import Settings

NAME = "bias"


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"


@dataclass(frozen=True)
class AttributeSummary:
    """Fairness of one protected attribute."""

    demographic_parity_ratio: float | None = None
    demographic_parity_difference: float | None = None
    equalized_odds_difference: float | None = None
    four_fifths_pass: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {"demographic_parity_ratio": self.demographic_parity_ratio,
                "demographic_parity_difference": self.demographic_parity_difference,
                "equalized_odds_difference": self.equalized_odds_difference,
                "four_fifths_pass": self.four_fifths_pass}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> AttributeSummary:
        """Read the stored JSON form (None or missing keys stay unknown)."""
        data = data or {}
        return cls(demographic_parity_ratio=data.get("demographic_parity_ratio"),
                   demographic_parity_difference=data.get("demographic_parity_difference"),
                   equalized_odds_difference=data.get("equalized_odds_difference"),
                   four_fifths_pass=data.get("four_fifths_pass"))


@dataclass(frozen=True)
class BiasSummary:
    """Fairness per protected attribute and the smallest disparate impact over them."""

    KIND: ClassVar[str] = NAME

    attributes: Mapping[str, AttributeSummary] = field(default_factory=dict)
    min_disparate_impact: float | None = None

    @property
    def kind(self) -> str:
        """The evidence kind this summarises."""
        return self.KIND

    def to_json(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {"attributes": {name: a.to_json() for name, a in self.attributes.items()},
                "min_disparate_impact": self.min_disparate_impact}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BiasSummary:
        """Read the stored JSON form (missing keys stay unknown)."""
        attrs = data.get("attributes") or {}
        return cls(attributes={str(k): AttributeSummary.from_json(v) for k, v in attrs.items()},
                   min_disparate_impact=data.get("min_disparate_impact"))

    @property
    def ratios(self) -> dict[str, float | None]:
        """Disparate impact (demographic parity ratio) per attribute."""
        return {name: a.demographic_parity_ratio for name, a in self.attributes.items()}

    def lines(self) -> list[str]:
        """The key numbers in words."""
        rule = {True: "pass", False: "FAIL"}
        return [f"{name}: disparate impact {_num(a.demographic_parity_ratio)}, four-fifths "
                f"{rule.get(a.four_fifths_pass, '—')}"  # type: ignore[arg-type]
                for name, a in self.attributes.items()] or ["no protected attribute measured"]

    def report_rows(self) -> list[tuple[str, Any]]:
        """The scalar values a report's key-value table prints, by name."""
        return scalar_rows([("min_disparate_impact", self.min_disparate_impact)])


# -- the plan and the calculation -----------------------------------------------------------------------------------


def bias_plan(settings: Settings, version: Version, columns: Sequence[str]) -> BiasConfig:
    """The bias configuration of ``version`` from ``[models.NAME]`` and the validation file's columns."""
    from governance.analytics.bias import BiasConfig

    cfg = model_config_of(settings, version)
    if not cfg.protected_attributes:
        raise NotApplicable(f"no protected attributes are configured for model {version.model!r} "
                            f"([models.{version.model}] protected_attributes in countersign.toml)")
    if version.metadata.get("task") == "regression":
        raise NotApplicable(f"{version.model} is a regression model; outcome fairness metrics need a classifier")
    pred = "prediction" if "prediction" in columns else None
    score = None if pred else ("score" if "score" in columns else None)
    if pred is None and score is None:
        raise InputError(f"the validation data of {version.version_id} has neither a 'prediction' nor a 'score' column")
    return BiasConfig(label=label_of(settings, version), protected=tuple(cfg.protected_attributes),
                      prediction=pred, score=score, positive_label=cfg.positive_label)


def plan(given: PlanInput) -> Plan:
    """The bias configuration from the model's settings and the validation file's columns."""
    from governance.analytics.io import opened

    with opened(data=given.files["validation"]) as (_, infos):
        columns = list(infos["data"].columns)
    config = bias_plan(given.settings, given.version, columns)
    return Plan(config, {"config": dataclass_doc(config)})


def compute(files: Mapping[str, Path], planned: Plan, progress: Any, engine: Any) -> Any:
    """Fairness of the validation file's predictions."""
    from governance.analytics.bias import bias_file

    return bias_file(files["validation"], planned.config, progress=progress, engine=engine)


def result_from_dict(data: Mapping[str, Any]) -> Any:
    """The typed bias result of a stored row."""
    from governance.analytics.bias import result_from_dict as read

    return read(data)


# -- report ----------------------------------------------------------------------------------------------------------


def bias_attributes(item: Any) -> list[tuple[str, list[dict[str, Any]], dict[str, Any], dict[str, Any]]]:
    """(attribute, per-group rows, attribute-level scalar metrics, Clarify metrics) of a bias evidence result.

    Single attributes come first, then intersections (``gender x age_band``) when the result has them.
    """
    from governance.document import scalar

    res = item.result
    out = []
    if res.get("attributes") is not None:
        for key in ("attributes", "intersections"):
            for a in records_from(res.get(key) or [], "attribute"):
                name = str(first(a, "attribute", "name") or "?")
                groups = records_from(first(a, "groups", "by_group", "per_group") or [], "group")
                clarify = first(a, "clarify", "clarify_metrics") or {}
                scalars = {k: v for k, v in a.items() if scalar(v) and k not in ("attribute", "name")}
                out.append((name, groups, scalars, clarify if isinstance(clarify, dict) else {}))
        return out
    groups = res.get("groups")
    if isinstance(groups, list):
        by: dict[str, list[dict[str, Any]]] = {}
        for g in groups:
            by.setdefault(str(g.get("attribute", "?")), []).append(g)
        for name in sorted(by):
            out.append((name, by[name], {}, {}))
    return out


def clarify_table(clarify: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Clarify metrics as (header, rows): one row per metric, one column per facet (group)."""
    if clarify and all(isinstance(v, dict) for v in clarify.values()):
        outer = sorted(clarify)
        inner = sorted({k for v in clarify.values() for k in v})
        # Clarify metric names are upper-case abbreviations (CI, DPL, DI ...): put them on the rows.
        if all(k.isupper() for k in outer) and not all(k.isupper() for k in inner):
            outer, inner = inner, outer
            return ["Metric", *outer], [[m, *(clarify[m].get(f) for f in outer)] for m in inner]
        return ["Metric", *outer], [[m, *(clarify[f].get(m) for f in outer)] for m in inner]
    return ["Metric", "Value"], [[k, clarify[k]] for k in sorted(clarify)]


def _evidence(f: Any, what: str) -> Any:
    item = f.evidence.get(NAME)
    if item is None:
        raise Missing(f"{what}: {f.evidence_notes.get(NAME, 'no bias evidence')}")
    return item


def _ratio_rows(attrs: list[Any], threshold: float) -> list[tuple[Any, ...]]:
    rows = []
    for name, groups, scalars, _clarify in attrs:
        ratio = first(scalars, "demographic_parity_ratio", "disparate_impact", "di", "four_fifths_ratio")
        if ratio is None and groups:
            rates = [g.get("selection_rate") for g in groups if isinstance(g.get("selection_rate"), int | float)]
            ratio = (min(rates) / max(rates)) if rates and max(rates) > 0 else None
        diff = first(scalars, "demographic_parity_difference", "dp_difference")
        eod = first(scalars, "equalized_odds_difference", "eo_difference")
        verdict = "-" if ratio is None else ("PASS" if ratio >= threshold else "FAIL")
        rows.append((name, ratio, diff, eod, verdict))
    return rows


def _charts(item: Any, attrs: list[Any], charts: Charts) -> list[dict[str, Any]]:
    singles = [str(first(a, "attribute", "name")) for a in records_from(item.result.get("attributes") or [],
                                                                         "attribute")][:3]
    specs = [s for s in (charts.spec("bias_chart", item.result, name) for name in singles) if s]
    if specs:
        return specs
    points = [{"group": f"{name}={g.get('group')}", "selection_rate": float(g["selection_rate"]), "attribute": name}
              for name, groups, _s, _c in attrs for g in groups if isinstance(g.get("selection_rate"), int | float)]
    if not points:
        return []
    return [charts.bars(points, x="selection_rate", y="group", color="attribute",
                            title="Selection rate by group", x_title="selection rate")]


def block(f: Any, charts: Charts) -> list[Node]:
    """Report block ``bias``: the four-fifths rule per attribute and the selection rates by group."""
    item = _evidence(f, "bias analysis")
    threshold = f.policy.get("min_disparate_impact") or 0.8
    attrs = bias_attributes(item)
    out: list[Node] = []
    summary = item.summary.report_rows()
    if summary:
        out.append(kv(summary))
    rows = _ratio_rows(attrs, threshold)
    if rows:
        out += [para(f"Four-fifths rule (selection-rate ratio >= {fmt(threshold)}):"),
                table(("Attribute", "Selection-rate ratio", "Parity difference", "Equalized odds diff.", "Verdict"),
                      rows)]
    out += [Chart(s, 0.8) for s in _charts(item, attrs, charts)]
    if not out:
        raise Missing(f"bias metrics in evidence {item.evidence_id}")
    warnings = first(item.result, "warnings", "small_groups")
    if warnings:
        out.append(para("Warnings: " + fmt(warnings), "small"))
    return [*out, evidence_caption(item, f.version.version_id)]


def group_accuracy_block(f: Any, charts: Charts) -> list[Node]:
    """Report block ``group_accuracy``: confusion-derived metrics per group of each attribute."""
    item = _evidence(f, "accuracy per group")
    out: list[Node] = []
    for name, groups, _scalars, _clarify in bias_attributes(item):
        if groups:
            out += [para(f"Attribute {name}", "h2"),
                    records(groups, ("group", "n", "count", "accuracy", "tpr", "fpr", "precision", "selection_rate"))]
    if not out:
        raise Missing(f"per-group metrics in bias evidence {item.evidence_id}")
    return [*out, evidence_caption(item, f.version.version_id)]


def clarify_block(f: Any, charts: Charts) -> list[Node]:
    """Report block ``clarify``: the SageMaker Clarify metrics per facet, eight facets to a table."""
    item = _evidence(f, "SageMaker Clarify metrics")
    out: list[Node] = [para(
        "Per facet (group) against the rest: pre-training CI, DPL, KL, JS, LP, TVD, KS; post-training DPPL, DI, "
        "DCA, DCR, RD, SD, DAR, DRR, AD, TE, as defined by SageMaker Clarify.", "small")]
    for name, _groups, _scalars, clarify in bias_attributes(item):
        if not clarify:
            continue
        header, rows = clarify_table(clarify)
        out.append(para(f"Attribute {name}", "h2"))
        # Many facets (intersections) do not fit one table width: print them eight at a time.
        for start in range(1, len(header), 8):
            cols = [0, *range(start, min(start + 8, len(header)))]
            out.append(table([header[c] for c in cols], [[r[c] for c in cols] for r in rows]))
    if len(out) == 1:
        raise Missing(f"Clarify metrics (CI, DPL, DI, ...) in bias evidence {item.evidence_id}")
    return [*out, evidence_caption(item, f.version.version_id)]


KIND = EvidenceKind(
    name=NAME, inputs=("validation",), summary=BiasSummary, plan=plan, compute=compute,
    result_from_dict=result_from_dict, inherits=True,
    blocks=(("group_accuracy", Block("Accuracy per group", group_accuracy_block, "bias evidence")),
            ("bias", Block("Discriminatory impact (four-fifths rule)", block, "bias evidence")),
            ("clarify", Block("Bias metrics (SageMaker Clarify definitions)", clarify_block,
                              "bias evidence with Clarify metrics"))),
)
