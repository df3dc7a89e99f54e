"""The lifecycle registers in the report: fallback and kill switch, incidents, and the regimes in force.

:func:`lifecycle_facts` reads them once for :class:`~governance.reports.facts.ReportFacts` (as of the report's
records date, so the same records give the same report); their blocks (:mod:`governance.reports.blocks.lifecycle`) render them from
the block registry. Blocks raise ``Missing`` for what an examiner would flag: a version in use in an
overseen environment with no approved fallback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from governance.config import Settings, Workspace
from governance.context import Context


@dataclass(frozen=True)
class LifecycleFacts:
    """What the lifecycle blocks print, read as of ``on``."""

    on: dt.datetime
    regimes: tuple[dict[str, Any], ...]  # governance.regimes.RegimeState.as_dict() of each regime the policy applies
    policy_status: str
    fallbacks: tuple[dict[str, Any], ...]  # governance.fallback.ModelFallbacks.as_dict() of the model's rows
    incidents: tuple[dict[str, Any], ...]  # governance.incidents.Incident.as_dict() of the version's family
    in_use_envs: tuple[str, ...] = ()  # environments under oversight where the version is in use
    inventory: tuple[tuple[str, str | None], ...] = ()  # the inventory fields the 2026 rules name, and their values


def lifecycle_latest(catalog: Any, model: str) -> dt.datetime | None:
    """The newest fallback or incident record of ``model`` (it moves the report's records date)."""
    plans = catalog.lifecycle_rows("fallback_plans", {"model": model})
    ids = {p["plan_id"] for p in plans}
    events = [e for e in catalog.lifecycle_rows("fallback_events") if e["plan_id"] in ids]
    found = catalog.lifecycle_rows("incidents", {"model": model})
    known = {i["incident_id"] for i in found}
    steps = [e for e in catalog.lifecycle_rows("incident_events") if e["incident_id"] in known]
    times = [p["proposed_at"] for p in plans] + [e["happened_at"] for e in events + steps] + \
        [i["recorded_at"] for i in found]
    return max(times, default=None)


def lifecycle_facts(workspace: Workspace, settings: Settings, catalog: Any, identity: Any, version: Any,
                    family: Iterable[str], on: dt.datetime) -> LifecycleFacts:
    """The registers' rows for ``version`` (and its family: the same model promoted elsewhere) as of ``on``."""
    from governance import fallback, incidents
    from governance.regimes import policy_status, regimes_on

    ctx = Context(workspace, settings, catalog, identity)
    ids = set(family)
    rows = fallback.register(ctx, model=version.model, now=on).models
    found = incidents.incidents_of(settings, catalog, model=version.model, now=on)
    return LifecycleFacts(
        on=on,
        regimes=tuple(s.as_dict() for s in regimes_on(settings, on.date(), model=version.model,
                                                      workspace_root=workspace.root)),
        policy_status=policy_status(settings, on.date()),
        fallbacks=tuple(r.as_dict() for r in rows),
        incidents=tuple(i.as_dict() for i in found if i.version_id in ids),
        in_use_envs=tuple(r.environment for r in rows if ids & set(r.in_use)),
        inventory=_inventory(settings, catalog, version.model),
    )


INVENTORY_FIELDS = (("accountable_senior_manager", "Accountable senior manager (PRA SS1/23)"),
                    ("materiality", "Materiality (SR 26-2)"),
                    ("ai_act_classification", "EU AI Act classification"),
                    ("generative_ai", "Generative AI"))


def _inventory(settings: Settings, catalog: Any, model: str) -> tuple[tuple[str, str | None], ...]:
    """Each inventory field from ``[models.NAME]``, else from the model card (Countersign's edit, else the registry's)."""
    from governance.cards import effective_card

    config = settings.models.get(model)
    card = (effective_card(catalog, model) or {}).get("content") or {}
    out = []
    for name, label in INVENTORY_FIELDS:
        value = getattr(config, name, None) if config is not None else None
        if isinstance(value, bool):
            value = "yes" if value else "no"
        out.append((label, value if value not in (None, "") else (card.get(name) or None)))
    return tuple(out)


def inventory_pairs(f: Any) -> list[tuple[str, str]]:
    """The inventory block's rows for the fields the 2026 rules name (empty when not collected)."""
    if f.lifecycle is None:
        return []
    return [(label, value or "not recorded ([models.NAME] or the model card)") for label, value in f.lifecycle.inventory]
