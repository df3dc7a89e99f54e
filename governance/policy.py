"""Policy as code: the gates a version must pass before it is promoted, and the checklist they make.

The gates themselves are registered in one table (:mod:`governance.gates`: one module and one line each, built-ins
like any other). Which gates apply comes from the tier (``countersign.toml`` ``[policy.tiers.NAME]``): a gate whose
threshold is not set does not apply, and ``gates = { prod = ["metrics", "fairness"] }`` narrows the gates for
promotions into one environment. This module evaluates them (:func:`evaluate`) and names the rules a decision was
taken under (:func:`policy_version`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.canonical import record_hash
from core.clock import utcnow
from core.errors import InputError, NotFound
from core.structs import to_builtins
from governance import gates as registry
from governance.catalog import Catalog, Version
from governance.config import ModelConfig, Settings, TierPolicy
from governance.gates.base import (
    EvidenceLookup,
    EvidenceRef,
    Gate,
    GateContext,
    GateResult,
    Status,
)
from governance.gates.drift import critical_features
from governance.gates.fairness import FOUR_FIFTHS_NOTE, fairness_label
from governance.gates.metrics import check as gate_metrics
from governance.gates.model_card import missing_card_fields
from governance.template_files import template_versions

__all__ = ["FOUR_FIFTHS_NOTE", "Checklist", "EvidenceLookup", "EvidenceRef", "Gate", "GateContext", "GatePreview",
           "GateResult", "PromotionPath", "Status", "catalog_evidence", "critical_features", "evaluate",
           "fairness_label", "gate", "gate_metrics", "gates_for", "missing_card_fields", "model_tier",
           "monitoring_gates", "next_environment", "policy_version", "preview_gate", "promotion_path"]


def __getattr__(name: str) -> Any:
    if name == "GATES":  # the registered gates as they are now (a plugin may have added one)
        return registry.gates()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def gate(name: str) -> Gate:
    """The registered gate called ``name``."""
    return registry.gate(name)


def monitoring_gates() -> tuple[str, ...]:
    """The names of the gates scheduled monitoring can breach (a failing one starts a triggered review)."""
    return registry.monitoring_gates()


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
        kinds = {g.name: g.evidence_kind for g in registry.gates()}
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


def gates_for(tier: TierPolicy, to_env: str, model_config: ModelConfig | None = None) -> tuple[Gate, ...]:
    """The gates that apply to a promotion into ``to_env`` under ``tier``: the tier's ``gates`` list for that
    environment, else every gate its thresholds turn on (or the model's own settings, e.g. a model naming
    ``critical_features`` brings the drift gate along where the tier's thresholds would leave it out)."""
    if to_env in tier.gates:
        return tuple(gate(n) for n in tier.gates[to_env])
    return tuple(g for g in registry.gates() if g.applies(tier) or (
        model_config is not None and g.applies_to_model is not None and g.applies_to_model(model_config)))


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
    from governance.effective_card import effective_card  # Countersign's edited card, else the registry's

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
    templates = template_versions(workspace_root)
    doc = {"tier": tier_name, "policy": to_builtins(settings.tier(tier_name)),
           "environments": list(settings.environments.order), "gates": list(registry.REGISTRY.names()),
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
