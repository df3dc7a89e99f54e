"""The lifecycle registers in the report: fallback and kill switch, incidents, and the regimes in force.

:func:`lifecycle_facts` reads them once for :class:`~governance.reports.facts.ReportFacts` (as of the report's
records date, so the same records give the same report); :data:`LIFECYCLE_BLOCKS` renders them and is merged into
the builder's block registry. Blocks raise ``Missing`` for what an examiner would flag: a version in use in an
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


# -- blocks ------------------------------------------------------------------------------------------------------


def _facts(f: Any) -> LifecycleFacts:
    from governance.reports.build import Missing

    if f.lifecycle is None:
        raise Missing("the lifecycle registers (not collected for this report)")
    return f.lifecycle


def b_regimes(f: Any, r: Any) -> list:
    """The regimes in force on the report's date, and the next phase of each."""
    from governance.reports.build import para, table

    lf = _facts(f)
    out = [para(f"Regimes in force on {lf.on:%Y-%m-%d} (the report's records date); {lf.policy_status}.")]
    rows = []
    for s in lf.regimes:
        now = "; ".join(f"{p['title']} (since {p['from']})" for p in s["in_force"]) or "not yet in force"
        if s["superseded"]:
            now = f"superseded by {s['superseded']['by']} since {s['superseded']['since']}"
        nxt = f"{s['next']['title']} from {s['next']['from']}" if s["next"] else "-"
        rows.append((s["name"], now, nxt))
    from governance.reports.build import BODY_W

    out.append(table(("Regime", "In force", "Next"), rows, (BODY_W * 0.16, BODY_W * 0.47, BODY_W * 0.37)))
    return out


def _plan_line(plan: dict[str, Any]) -> str:
    approvers = ", ".join(plan["approvers"]) or "-"
    return (f"Plan {plan['plan_id']} for {plan['environment']}: {plan['describe']}. Reason: {plan['reason']}. "
            f"Approved by {approvers} on {plan['approved_at']:%Y-%m-%d}.")


def b_fallback(f: Any, r: Any) -> list:
    """Each environment's approved fallback or kill switch, its last rehearsal and emergency executions."""
    from governance.reports.build import BODY_W, Missing, fmt, para, table

    lf = _facts(f)
    rows = [x for x in lf.fallbacks if x["environment"] in lf.in_use_envs or x["active"]]
    missing = [e for e in lf.in_use_envs if not any(x["active"] for x in rows if x["environment"] == e)]
    out: list = []
    for x in rows:
        if x["active"] is None:
            continue
        out.append(para(_plan_line(x["active"])))
        last = x["rehearsals"][-1] if x["rehearsals"] else None
        out.append(para(f"Last rehearsal: {fmt(last['at'])} by {last['actor']}, rehearsal "
                        f"{'passed' if last['passed'] else 'FAILED'} ("
                        + "; ".join(f"{c['name']}: {c['detail']}" for c in last["checks"]) + ")."
                        if last else "Never rehearsed.", "small"))
        if x["executions"]:
            out.append(table(("Executed", "By", "Outcome", "Reason", "Review"), [
                (e["executed_at"], e["actor"], e["outcome"] + (" (emergency)" if e["emergency"] else ""), e["reason"],
                 f"{e['review_status']} (due {fmt(e['review_due'])})") for e in x["executions"]],
                (BODY_W * 0.15, BODY_W * 0.2, BODY_W * 0.15, BODY_W * 0.28, BODY_W * 0.22)))
    if missing:
        gap = (f"{f.version.version_id} is in use in {', '.join(missing)} with no approved fallback or kill switch "
               "(propose one with 'countersign fallback plan')")
        if not out:
            raise Missing(gap)
        out.append(r.missing(gap))
    if not out:
        out.append(para(f"{f.version.version_id} is not in use in an environment under oversight: no fallback "
                        "is required."))
    return out


def _deadline_text(d: dict[str, Any]) -> str:
    status = {"overdue": "OVERDUE", "met": f"met {d['met_at']:%Y-%m-%d}" if d.get("met_at") else "met",
              "due": "due", "not_applicable": "not applicable"}[d["status"]]
    return f"{d['rule']}: {d['due_at']:%Y-%m-%d %H:%M} UTC, {status}" + (f" ({d['note']})" if d.get("note") else "")


def b_incidents(f: Any, r: Any) -> list:
    """The incidents recorded against the version and its copies: severity, deadlines per rule, actions, closure."""
    from governance.reports.build import BODY_W, para, table

    lf = _facts(f)
    if not lf.incidents:
        return [para(f"No incident recorded against {f.version.version_id} or its copies up to {lf.on:%Y-%m-%d}.")]
    rows = [(i["incident_id"], f"{i['title']}. Impact: {i['impact']}", i["severity"]
             + (f", serious ({i['serious_kind']})" if i["serious"] else ""), f"{i['aware_at']:%Y-%m-%d}",
             "; ".join(_deadline_text(d) for d in i["deadlines"]), i["status"]) for i in lf.incidents]
    out = [table(("Incident", "What", "Severity", "Aware", "Reporting deadlines", "Status"), rows,
                 (BODY_W * 0.17, BODY_W * 0.27, BODY_W * 0.12, BODY_W * 0.1, BODY_W * 0.26, BODY_W * 0.08), mono=(0,))]
    for i in lf.incidents:
        for e in i["events"]:
            out.append(para(f"{i['incident_id']} {e['kind']} {e['at']:%Y-%m-%d} by {e['actor']}: {e['text']}",
                            "small"))
    return out


def lifecycle_blocks() -> dict[str, Any]:
    """The lifecycle blocks, for the builder's registry."""
    from governance.reports.build import Block

    return {
        "regimes": Block("Regimes in force", b_regimes, "governance/data/regimes.toml and [policy] regimes"),
        "fallback": Block("Fallback and kill switch", b_fallback, "an approved fallback plan (governance.fallback)"),
        "incidents": Block("Incidents", b_incidents, "the incident register (governance.incidents)"),
    }
