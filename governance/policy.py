"""Policy as code: the gates a version must pass before it is promoted, registered in one table.

A gate is a pure function of a :class:`GateContext` (the version, its tier's policy, its model card and an
evidence lookup) returning a :class:`GateResult`: ``pass``, ``fail`` or ``missing`` (the evidence it needs does
not exist, or is older than the tier allows), together with the evidence it used. Which gates apply comes from
the tier (``countersign.toml`` ``[policy.tiers.NAME]``): a gate whose threshold is not set does not apply, and
``gates = { prod = ["metrics", "fairness"] }`` narrows the gates for promotions into one environment.

Adding a gate is a function and one line in :data:`GATES`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.canonical import record_hash
from core.clock import utcnow
from core.errors import InputError, NotFound
from governance.analytics.summaries import (
    WEIGHT_NOTES,
    BiasSummary,
    DriftSummary,
    EvidenceSummary,
    ExplainSummary,
    summary_from_json,
)
from governance.catalog import Catalog, Version
from governance.compare import artifact_check
from governance.config import ModelConfig, Settings, TierPolicy

Status = Literal["pass", "fail", "missing"]
# Where the 0.8 default of the fairness gate comes from, said wherever the rule is named.
FOUR_FIFTHS_NOTE = ("The four-fifths rule (selection-rate ratio of at least 0.8) is a rule of thumb for adverse impact "
                    "from US employment guidance (the EEOC Uniform Guidelines on Employee Selection Procedures), not a "
                    "universal legal test.")


@dataclass(frozen=True)
class EvidenceRef:
    """The evidence a gate looked at: its id, kind, age and typed summary (a stored JSON dict is read into it)."""

    evidence_id: str
    kind: str
    computed_at: dt.datetime | None
    summary: EvidenceSummary

    def __post_init__(self) -> None:
        if isinstance(self.summary, dict):
            object.__setattr__(self, "summary", summary_from_json(self.kind, self.summary))


EvidenceLookup = Callable[[str, str], "EvidenceRef | None"]
"""(version_id, kind) → the newest evidence of that kind, or None."""


@dataclass(frozen=True)
class GateContext:
    """Everything a gate may look at."""

    version: Version
    tier_name: str
    tier: TierPolicy
    model_config: ModelConfig
    card: dict[str, Any] | None
    evidence: EvidenceLookup
    now: dt.datetime
    # the catalog, for gates that look along the lineage, and the environment promoted into
    catalog: Catalog | None = None
    to_env: str = ""


@dataclass(frozen=True)
class GateResult:
    """One line of the checklist."""

    gate: str
    status: Status
    message: str
    threshold: Any = None
    observed: Any = None
    evidence: tuple[EvidenceRef, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering (evidence by id and time, without the summaries)."""
        return {
            "gate": self.gate, "status": self.status, "message": self.message, "threshold": self.threshold,
            "observed": self.observed,
            "evidence": [{"evidence_id": e.evidence_id, "kind": e.kind, "computed_at": e.computed_at}
                         for e in self.evidence],
        }


@dataclass(frozen=True)
class Gate:
    """A registered gate: its name, when it applies, the check, and help for people."""

    name: str
    applies: Callable[[TierPolicy], bool]
    check: Callable[[GateContext], GateResult]
    help: str
    evidence_kind: str | None = None  # the evidence kind the gate reads (None: it reads the catalog only)
    label: str = ""  # how people see the gate (default: its name)


@dataclass(frozen=True)
class Checklist:
    """The gate results of one version for one promotion target."""

    version_id: str
    to_env: str
    tier_name: str
    approvals_required: int
    results: tuple[GateResult, ...]
    evaluated_at: dt.datetime

    @property
    def passed(self) -> bool:
        return all(r.status == "pass" for r in self.results)

    @property
    def blocking(self) -> tuple[GateResult, ...]:
        """Gates that fail or lack evidence: approval needs a risk acceptance for each."""
        return tuple(r for r in self.results if r.status != "pass")

    @property
    def evidence(self) -> tuple[EvidenceRef, ...]:
        """Every piece of evidence the gates used, once each, in gate order."""
        return tuple({e.evidence_id: e for r in self.results for e in r.evidence}.values())

    def evidence_lacking(self) -> tuple[str, ...]:
        """The evidence kinds (``drift``, ``bias``, ``explain``) that a gate of this checklist reads but found none of."""
        kinds = {g.name: g.evidence_kind for g in GATES}
        return tuple(dict.fromkeys(kinds[r.gate] for r in self.results if kinds.get(r.gate) and not r.evidence))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {
            "version_id": self.version_id, "to_env": self.to_env, "tier": self.tier_name,
            "approvals_required": self.approvals_required, "passed": self.passed,
            "evaluated_at": self.evaluated_at, "results": [r.as_dict() for r in self.results],
        }


# -- evidence ---------------------------------------------------------------------------------------------------


def catalog_evidence(catalog: Catalog) -> EvidenceLookup:
    """The evidence lookup of the analytics package: the newest evidence of a kind, through the lineage."""

    def lookup(version_id: str, kind: str) -> EvidenceRef | None:
        # imported on first use: the analytics modules are heavy to load
        from governance.analytics.evidence import evidence_through_lineage

        found = evidence_through_lineage(catalog, version_id, kind)
        if found is None:
            return None
        return EvidenceRef(evidence_id=found.evidence_id, kind=kind, computed_at=found.computed_at,
                           summary=found.summary)

    return lookup


def _fresh(ctx: GateContext, gate: str, kind: str) -> tuple[EvidenceRef | None, GateResult | None]:
    """The evidence of ``kind``, or the 'missing' result explaining why it cannot be used."""
    ev = ctx.evidence(ctx.version.version_id, kind)
    if ev is None:
        return None, GateResult(gate, "missing", f"no {kind} evidence for {ctx.version.version_id}: compute it "
                                f"on the Review page or with 'countersign review --version "
                                f"{ctx.version.version_id}'")
    limit = ctx.tier.evidence_max_age_days
    if limit is not None and ev.computed_at is not None:
        age = (ctx.now - ev.computed_at).total_seconds() / 86400
        if age > limit:
            return ev, GateResult(gate, "missing", f"{kind} evidence is {age:.0f} days old; tier {ctx.tier_name} "
                                  f"accepts at most {limit} days: compute it again", evidence=(ev,))
    return ev, None


# -- the gates ----------------------------------------------------------------------------------------------------


def gate_metrics(ctx: GateContext) -> GateResult:
    """Registered metrics of the version against the tier's minimum and maximum values."""
    metrics = ctx.version.metrics
    fails, missing, observed = [], [], {}
    for name, bound in ctx.tier.min_metrics.items():
        value = metrics.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            missing.append(name)
            continue
        observed[name] = value
        if value < bound:
            fails.append(f"{name} {value:.4g} < {bound:g}")
    for name, bound in ctx.tier.max_metrics.items():
        value = metrics.get(name)
        if value is None:
            missing.append(name)
            continue
        observed[name] = value
        if value > bound:
            fails.append(f"{name} {value:.4g} > {bound:g}")
    threshold = {"min": dict(ctx.tier.min_metrics), "max": dict(ctx.tier.max_metrics)}
    if fails:
        return GateResult("metrics", "fail", "; ".join(fails), threshold, observed)
    if missing:
        return GateResult("metrics", "missing", f"the version does not report {', '.join(missing)}", threshold,
                          observed)
    return GateResult("metrics", "pass", ", ".join(f"{k} {v:.4g}" for k, v in observed.items()), threshold, observed)


def critical_features(tier: TierPolicy, model_config: ModelConfig) -> tuple[str, ...]:
    """The columns whose drift alone fails the drift gate: the tier's and the model's ``critical_features``."""
    return tuple(dict.fromkeys((*tier.critical_features, *model_config.critical_features)))


def gate_drift(ctx: GateContext) -> GateResult:
    """Share of drifted columns (current vs reference data) at or below the tier's limit, and no critical feature
    (``critical_features`` of the tier or the model) drifted at all."""
    ev, missing = _fresh(ctx, "drift", "drift")
    if missing:
        return missing
    assert ev is not None
    summary = ev.summary
    share = summary.drift_share if isinstance(summary, DriftSummary) else None
    limit = ctx.tier.max_drift_share
    critical = critical_features(ctx.tier, ctx.model_config)
    threshold: Any = {"max_drift_share": limit, "critical_features": list(critical)} if critical else limit
    if share is None:
        return GateResult("drift", "missing", "drift evidence has no drift_share", threshold, None, (ev,))
    cols = [str(c) for c in summary.drifted_columns]
    observed: Any = {"drift_share": share, "drifted_columns": cols} if critical else share
    detail = f" (drifted: {', '.join(cols)})" if cols else ""
    share_text = f"drift share {share:.2f}" + (f" of limit {limit:g}" if limit is not None else "")
    if summary.problems:  # a reference column gone, retyped or emptied: the data is not what was validated
        return GateResult("drift", "fail", f"failing finding{'s' if len(summary.problems) > 1 else ''}: "
                          f"{'; '.join(summary.problems)}; {share_text}{detail}", threshold, observed, (ev,))
    hit = [c for c in critical if c in cols]
    if hit:
        return GateResult("drift", "fail", f"critical feature{'s' if len(hit) > 1 else ''} drifted: "
                          f"{', '.join(hit)}; {share_text}{detail}", threshold, observed, (ev,))
    if limit is None or share <= limit:
        what = f"drift share {share:.2f}" + (f" ≤ {limit:g}" if limit is not None else "")
        if critical:
            what += f"; critical features stable: {', '.join(critical)}"
        return GateResult("drift", "pass", what + detail, threshold, observed, (ev,))
    return GateResult("drift", "fail", f"{len(cols)} columns drifted: drift share {share:.2f} > {limit:g}{detail}",
                      threshold, observed, (ev,))


def gate_weighted_drift(ctx: GateContext) -> GateResult:
    """The importance-weighted drift (the model's attribution carried by drifted features, a missing or retyped
    feature counted as drifted) at or below the tier's ``max_weighted_drift``."""
    ev, missing = _fresh(ctx, "weighted_drift", "drift")
    if missing:
        return missing
    assert ev is not None
    summary = ev.summary
    limit = ctx.tier.max_weighted_drift
    weighted = summary.weighted_drift if isinstance(summary, DriftSummary) else None
    if weighted is None or not isinstance(summary, DriftSummary):
        return GateResult("weighted_drift", "missing", f"drift evidence {ev.evidence_id} was computed before drift "
                          "was weighted by the model's importances: compute it again", limit, None, (ev,))
    source = summary.weights_source or "equal"
    observed = {"weighted_drift": weighted, "weights_source": source, "weights_ref": summary.weights_ref,
                "heaviest": [[c, w] for c, w in summary.heaviest]}
    how = WEIGHT_NOTES.get(source, source) + (f" {summary.weights_ref}" if summary.weights_ref else "")
    if limit is None or weighted <= limit:
        bound = f" ≤ {limit:g}" if limit is not None else ""
        return GateResult("weighted_drift", "pass", f"weighted drift {weighted:.2f}{bound} ({how}): {summary.headline}",
                          limit, observed, (ev,))
    return GateResult("weighted_drift", "fail", f"{summary.headline}: weighted drift {weighted:.2f} > {limit:g} "
                      f"({how})", limit, observed, (ev,))


def gate_fairness(ctx: GateContext) -> GateResult:
    """Disparate impact (demographic parity ratio) per protected attribute at or above the tier's minimum."""
    ev, missing = _fresh(ctx, "fairness", "bias")
    if missing:
        return missing
    assert ev is not None
    limit = ctx.tier.min_disparate_impact
    ratios = ev.summary.ratios if isinstance(ev.summary, BiasSummary) else {}
    wanted = ctx.model_config.protected_attributes or tuple(ratios)
    uncovered = [a for a in wanted if ratios.get(a) is None]
    low = {a: r for a, r in ratios.items() if r is not None and r < limit}
    label = fairness_label(ctx.tier)
    if low:
        text = ", ".join(f"{a} {r:.2f}" for a, r in sorted(low.items()))
        return GateResult("fairness", "fail", f"disparate impact below {limit:g} ({label}): {text}", limit, ratios,
                          (ev,))
    if uncovered or not wanted:
        what = ", ".join(uncovered) if uncovered else "any protected attribute"
        return GateResult("fairness", "missing", f"bias evidence does not cover {what}", limit, ratios, (ev,))
    text = ", ".join(f"{a} {ratios[a]:.2f}" for a in wanted)
    return GateResult("fairness", "pass", f"disparate impact ≥ {limit:g} ({label}): {text}", limit, ratios, (ev,))


def fairness_label(tier: TierPolicy) -> str:
    """How the fairness gate names its threshold under ``tier``: the tier's ``fairness_label``, else the registry's."""
    if tier.fairness_label:
        return tier.fairness_label
    if tier.min_disparate_impact is not None and tier.min_disparate_impact != 0.8:
        return "the tier's own threshold"  # not four fifths: do not borrow that rule's name
    return gate("fairness").label


def gate_explainability(ctx: GateContext) -> GateResult:
    """An explanation (global SHAP importance) exists for the version."""
    ev, missing = _fresh(ctx, "explainability", "explain")
    if missing:
        return missing
    assert ev is not None
    top = ev.summary.top_names if isinstance(ev.summary, ExplainSummary) else []
    return GateResult("explainability", "pass", "explanation on record" + (f" (top: {', '.join(map(str, top[:3]))})"
                      if top else ""), None, top[:3], (ev,))


def missing_card_fields(tier: TierPolicy, card: dict[str, Any] | None) -> list[str]:
    """The fields ``tier`` requires that the model card leaves empty (all of them when there is no card)."""
    content = (card or {}).get("content") or {}
    return [f for f in tier.required_card_fields if not str(content.get(f) or "").strip()]


def gate_model_card(ctx: GateContext) -> GateResult:
    """The model card fills every field the tier requires."""
    required = ctx.tier.required_card_fields
    if ctx.card is None:
        return GateResult("model_card", "missing", f"model {ctx.version.model} has no model card", list(required))
    content = ctx.card.get("content") or {}
    empty = missing_card_fields(ctx.tier, ctx.card)
    if empty:
        return GateResult("model_card", "fail", f"model card lacks {', '.join(empty)}", list(required),
                          sorted(k for k, v in content.items() if v))
    return GateResult("model_card", "pass", f"model card has {', '.join(required)}", list(required), list(required))


def gate_identical_artifact(ctx: GateContext) -> GateResult:
    """The artifact sha256 equals that of every source up the lineage and of the copies in the target."""
    if ctx.catalog is None:
        return GateResult("identical_artifact", "missing", "no catalog to read the lineage from", True)
    check = artifact_check(ctx.catalog, ctx.version.version_id, ctx.to_env or None)
    return GateResult("identical_artifact", check.status, check.message, True, check.observed)


# name, applies to a tier when, check, help. Built-in gates are registered like any other.
GATES: tuple[Gate, ...] = (
    Gate("metrics", lambda t: bool(t.min_metrics or t.max_metrics), gate_metrics,
         "Registered validation metrics meet the tier's min_metrics / max_metrics."),
    Gate("drift", lambda t: t.max_drift_share is not None or bool(t.critical_features), gate_drift,
         "Share of drifted columns between reference and current data is at most max_drift_share, and no "
         "critical feature (critical_features of the tier or the model) drifted.", "drift"),
    Gate("weighted_drift", lambda t: t.max_weighted_drift is not None, gate_weighted_drift,
         "Importance-weighted drift: the share of the model's attribution (mean |SHAP| of its explain evidence, else "
         "the registry's feature importances, else equal weights, said so) carried by drifted features is at most "
         "max_weighted_drift. A feature missing, retyped or empty in the current data counts as drifted.", "drift",
         label="importance-weighted drift"),
    Gate("fairness", lambda t: t.min_disparate_impact is not None, gate_fairness,
         "Demographic parity ratio (selection-rate ratio) of every protected attribute is at least "
         f"min_disparate_impact. {FOUR_FIFTHS_NOTE} Set min_disparate_impact and fairness_label per tier for your "
         "jurisdiction and use.",
         "bias", label="four-fifths rule of thumb (US EEOC Uniform Guidelines)"),
    Gate("explainability", lambda t: False, gate_explainability,
         "A SHAP explanation is on record. Applies only where a tier's gates list names it.", "explain"),
    Gate("model_card", lambda t: bool(t.required_card_fields), gate_model_card,
         "The model card fills every field in required_card_fields."),
    Gate("identical_artifact", lambda t: t.require_identical_artifact, gate_identical_artifact,
         "The artifact sha256 equals the approved source's (and the promoted copy's): require_identical_artifact."),
)


def gate(name: str) -> Gate:
    """The registered gate called ``name``."""
    for g in GATES:
        if g.name == name:
            return g
    raise InputError(f"unknown gate {name!r} (known: {', '.join(g.name for g in GATES)})")


def gates_for(tier: TierPolicy, to_env: str, model_config: ModelConfig | None = None) -> tuple[Gate, ...]:
    """The gates that apply to a promotion into ``to_env`` under ``tier`` (a model naming ``critical_features``
    brings the drift gate along where the tier's own thresholds would leave it out)."""
    if to_env in tier.gates:
        return tuple(gate(n) for n in tier.gates[to_env])
    wants_drift = bool(model_config and model_config.critical_features)
    return tuple(g for g in GATES if g.applies(tier) or (g.name == "drift" and wants_drift))


@dataclass(frozen=True)
class _Inputs:
    version: Version
    tier_name: str
    tier: TierPolicy
    model_config: ModelConfig
    card: dict[str, Any] | None = field(default=None)


def model_tier(catalog: Catalog, settings: Settings, model: str) -> tuple[str, TierPolicy]:
    """The risk tier that governs ``model`` and its policy: ``[models.NAME] risk_tier`` in the configuration, else
    the tier the registry records, else the default tier (also for a tier name the configuration does not know)."""
    tier_name = settings.models.get(model, ModelConfig()).risk_tier
    if not tier_name:
        try:
            tier_name = catalog.model(model).risk_tier
        except NotFound:  # an unknown model row only means no tier: the default applies (a busy catalog raises)
            tier_name = None
    if not tier_name or tier_name not in settings.policy.tiers:
        tier_name = settings.policy.default_tier
    return tier_name, settings.tier(tier_name)


def _inputs(catalog: Catalog, settings: Settings, version_id: str) -> _Inputs:
    version = catalog.version(version_id)
    model_config = settings.models.get(version.model, ModelConfig())
    tier_name, tier = model_tier(catalog, settings, version.model)
    from governance.cards import effective_card  # Countersign's edited card first, else the registry's

    return _Inputs(version, tier_name, tier, model_config, effective_card(catalog, version.model))


def evaluate(
    catalog: Catalog,
    settings: Settings,
    version_id: str,
    to_env: str,
    *,
    evidence: EvidenceLookup | None = None,
    now: dt.datetime | None = None,
) -> Checklist:
    """Run every gate of the version's tier for a promotion into ``to_env``; return the checklist."""
    if to_env not in settings.environments.order:
        raise InputError(f"unknown environment {to_env!r} (known: {', '.join(settings.environments.order)})")
    inputs = _inputs(catalog, settings, version_id)
    moment = now or utcnow()
    ctx = GateContext(inputs.version, inputs.tier_name, inputs.tier, inputs.model_config, inputs.card,
                      evidence or catalog_evidence(catalog), moment, catalog, to_env)
    results = tuple(g.check(ctx) for g in gates_for(inputs.tier, to_env, inputs.model_config))
    return Checklist(version_id, to_env, inputs.tier_name, inputs.tier.approvals_required, results, moment)


def next_environment(settings: Settings, environment: str) -> str:
    """The environment a version in ``environment`` would be promoted into (itself when it is the last; the last
    environment for one the configuration does not list)."""
    order = list(settings.environments.order)
    if environment not in order:
        return order[-1]
    return order[min(order.index(environment) + 1, len(order) - 1)]


@dataclass(frozen=True)
class PromotionPath:
    """Where a promotion goes along ``[environments] order``: one step, or a skip the tier allows (which needs one
    approval more than the tier's ``approvals_required``)."""

    from_env: str
    to_env: str
    tier_name: str
    skipped: tuple[str, ...]
    approvals_required: int

    @property
    def skip(self) -> str | None:
        """``"dev->prod"`` when the promotion skips environments, else None."""
        return f"{self.from_env}->{self.to_env}" if self.skipped else None

    def describe(self) -> str:
        """The path in words, e.g. ``dev → prod skips staging (allowed for tier high): 3 approvals (2 + 1)``."""
        text = f"{self.from_env} → {self.to_env}"
        if not self.skipped:
            return f"{text}: {self.approvals_required} approval{'s' if self.approvals_required != 1 else ''}"
        return (f"{text} skips {', '.join(self.skipped)} (allowed for tier {self.tier_name}): "
                f"{self.approvals_required} approvals ({self.approvals_required - 1} + 1 for the skip)")


def promotion_path(settings: Settings, tier_name: str, tier: TierPolicy, from_env: str, to_env: str, *,
                   subject: str = "the version") -> PromotionPath:
    """The path of a promotion from ``from_env`` into ``to_env`` under ``tier``; refuses (``InputError`` naming the
    reason) a step backwards, an unknown environment, or a skip the tier does not allow in ``allow_skip``."""
    order = list(settings.environments.order)
    if to_env not in order:
        raise InputError(f"unknown environment {to_env!r} (known: {', '.join(order)})")
    if from_env not in order or order.index(to_env) <= order.index(from_env):
        raise InputError(f"{subject} is in {from_env}; a promotion goes to a later environment "
                         f"({' → '.join(order)}), not {to_env}")
    skipped = tuple(order[order.index(from_env) + 1:order.index(to_env)])
    if skipped and f"{from_env}->{to_env}" not in tier.allow_skip:
        step = order[order.index(from_env) + 1]
        raise InputError(
            f"{subject}: {from_env} → {to_env} skips {', '.join(skipped)}: promotions follow [environments] order "
            f"({' → '.join(order)}) one step at a time. Request {step} first, or allow this skip for risk tier "
            f"{tier_name} with allow_skip = [\"{from_env}->{to_env}\"] under [policy.tiers.{tier_name}] "
            "(it then needs one approval more)"
        )
    return PromotionPath(from_env, to_env, tier_name, skipped, tier.approvals_required + (1 if skipped else 0))


def policy_version(settings: Settings, tier_name: str, workspace_root: Path | None = None) -> str:
    """A hash naming the rules a decision was taken under: the tier's policy, the registered gates and the
    versions of the report templates (``pv-`` and 16 hex digits; the same rules give the same name)."""
    import tomllib

    from governance.reports.templates import template_dirs

    templates: dict[str, str] = {}
    for folder in reversed(template_dirs(workspace_root)):
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            try:
                head = tomllib.loads(path.read_text(encoding="utf-8")).get("template") or {}
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
                continue
            templates[path.stem] = str(head.get("version", "?"))
    doc = {"tier": tier_name, "policy": settings.tier(tier_name).model_dump(mode="json"),
           "environments": list(settings.environments.order), "gates": [g.name for g in GATES],
           "templates": templates}
    return "pv-" + record_hash(doc)[:16]


@dataclass(frozen=True)
class GatePreview:
    """One gate as a promotion out of the version's environment would apply it to evidence being looked at."""

    tier_name: str
    to_env: str
    result: GateResult | None  # None: the tier sets no such gate for that promotion


def preview_gate(catalog: Catalog, settings: Settings, version_id: str, gate_name: str, shown: EvidenceRef, *,
                 now: dt.datetime | None = None) -> GatePreview:
    """Gate ``gate_name`` for promoting ``version_id`` into the next environment, reading ``shown`` in place of the
    stored evidence of its kind (the Review page shows the verdict on the evidence on screen, e.g. an upload)."""
    version = catalog.version(version_id)
    to_env = next_environment(settings, version.environment)
    stored = catalog_evidence(catalog)
    checklist = evaluate(
        catalog, settings, version_id, to_env, now=now,
        evidence=lambda v, kind: shown if (v, kind) == (version_id, shown.kind) else stored(v, kind),
    )
    return GatePreview(checklist.tier_name, to_env, next((r for r in checklist.results if r.gate == gate_name), None))
