"""Incident register: what went wrong with a version in use, who must be told by when, what was done, closure.

An incident is recorded against a version (what happened, when it happened, when the firm became aware, its
impact and severity, and whether it is *serious* under the EU AI Act). Its reporting deadlines follow from dated
rules, counted from when the firm became aware:

- **EU AI Act Art. 73** (serious incidents of high-risk AI systems): not later than 15 days (Art. 73(2)); not later
  than 2 days for a widespread infringement or a serious and irreversible disruption of critical infrastructure
  (Art. 73(3)); not later than 10 days after a death (Art. 73(4)). It applies to a model only once the AI Act's
  high-risk phase for its classification is in force on the day of awareness (:mod:`governance.regimes`: Annex III
  uses such as credit scoring from 2 Dec 2027, AI in regulated products from 2 Aug 2028); before that the deadline is
  shown as not yet applicable, with the date it applies from. A model not classified is treated as high-risk.
- **Internal escalation** (PRA SS1/23 escalation): ``[policy.incidents] escalation_days`` per severity.

Each deadline is met by a report filed against its rule (:func:`file_report`), and is ``overdue`` once its date
passed without one; overdue deadlines are in the register, the Oversight notifications (``incident_deadline``)
and the PDF. Actions and the closure (a risk officer's) are events. Every step is a ledger entry (subject
``incident:ID``) written under the tail check; the tables are insert-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from core.clock import utcnow
from core.errors import ConflictError, InputError, NotFound
from core.ids import new_dated_id, new_event_id
from core.inputs import required_text
from governance import ledger
from governance.catalog import Catalog
from governance.config import Settings
from governance.context import Context
from governance.identity import require
from governance.ledger.subjects import incident_subject

SEVERITIES = ("low", "medium", "high", "critical")
# EU AI Act Art. 3(49): what makes an incident serious; the last one is Art. 73(3)'s widespread infringement
SERIOUS_KINDS = ("death", "health", "critical_infrastructure", "fundamental_rights", "property_environment",
                 "widespread_infringement")
ART_73, ESCALATION = "eu-ai-act-art-73", "pra-ss1-23-escalation"
RULES = (ART_73, ESCALATION)
HIGH_RISK = ("high_risk_annex_iii", "high_risk_product")


@dataclass(frozen=True)
class Deadline:
    """One reporting deadline of an incident: by which rule, when, and whether a report met it."""

    rule: str
    name: str
    due_at: dt.datetime
    basis: str
    applicable: bool = True
    note: str = ""
    met_at: dt.datetime | None = None

    def status(self, now: dt.datetime) -> str:
        """``met``, ``overdue``, ``due`` or ``not_applicable`` on ``now``."""
        if not self.applicable:
            return "not_applicable"
        if self.met_at is not None:
            return "met"
        return "overdue" if now > self.due_at else "due"

    def as_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """A JSON-ready rendering (with the status on ``now`` when given)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return out | ({"status": self.status(now)} if now is not None else {})


@dataclass(frozen=True)
class IncidentEvent:
    """An action taken, a report filed, or the closure."""

    event_id: str
    kind: str  # action | report | close
    actor: str
    at: dt.datetime
    text: str
    rule: str | None = None


@dataclass(frozen=True)
class Incident:
    """One incident with its deadlines and events, as of ``as_of``."""

    incident_id: str
    version_id: str
    model: str
    title: str
    description: str | None
    occurred_at: dt.datetime
    aware_at: dt.datetime
    impact: str
    severity: str
    serious: bool
    serious_kind: str | None
    recorded_by: str
    recorded_at: dt.datetime
    deadlines: tuple[Deadline, ...]
    events: tuple[IncidentEvent, ...] = ()
    as_of: dt.datetime = dt.datetime.min
    ledger_hash: str | None = None

    @property
    def status(self) -> str:
        return "closed" if any(e.kind == "close" for e in self.events) else "open"

    @property
    def overdue(self) -> tuple[Deadline, ...]:
        """The deadlines past without a report (on ``as_of``)."""
        return tuple(d for d in self.deadlines if d.status(self.as_of) == "overdue")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("deadlines", "events")}
        return out | {"status": self.status, "deadlines": [d.as_dict(self.as_of) for d in self.deadlines],
                      "events": [e.__dict__ for e in self.events], "overdue": [d.rule for d in self.overdue]}


@dataclass(frozen=True)
class IncidentRegister:
    """The incidents (open ones, or all), newest first."""

    as_of: dt.datetime
    incidents: tuple[Incident, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"as_of": self.as_of, "incidents": [i.as_dict() for i in self.incidents]}


# -- deadlines ----------------------------------------------------------------------------------------------------


def _art_73(settings: Settings, model: str, serious_kind: str | None, aware: dt.datetime,
            root: Any) -> Deadline:
    """The Art. 73 deadline of a serious incident, and whether Art. 73 applied to the model on the day of
    awareness (the AI Act's high-risk phase for its classification in force)."""
    from governance.regimes import model_classification, regimes_on

    if serious_kind == "death":
        days, basis = 10, "EU AI Act Art. 73(4): death of a person, not later than 10 days after becoming aware"
    elif serious_kind in ("critical_infrastructure", "widespread_infringement"):
        days, basis = 2, ("EU AI Act Art. 73(3): widespread infringement or serious disruption of critical "
                          "infrastructure, not later than 2 days after becoming aware")
    else:
        days, basis = 15, "EU AI Act Art. 73(2): not later than 15 days after becoming aware"
    due = aware + dt.timedelta(days=days)
    cls = model_classification(settings, model)
    if cls is not None and cls not in HIGH_RISK:
        return Deadline(ART_73, "EU AI Act Art. 73", due, basis, False,
                        f"Art. 73 concerns high-risk AI systems; {model} is classified {cls}")
    state = next((s for s in regimes_on(settings, aware.date(), model=model, workspace_root=root)
                  if s.regime.id == "eu-ai-act"), None)
    if state is None:
        return Deadline(ART_73, "EU AI Act Art. 73", due, basis, False, "[policy] regimes leaves out eu-ai-act")
    high = [p for p in state.in_force if p.applies_to]
    if cls is None:
        return Deadline(ART_73, "EU AI Act Art. 73", due, basis, True,
                        f"{model} has no AI Act classification ([models.{model}] ai_act_classification): treated "
                        "as high-risk")
    if not high:
        start = state.next.start if state.next else None
        return Deadline(ART_73, "EU AI Act Art. 73", due, basis, False,
                        f"not yet applicable on {aware:%Y-%m-%d}: for {cls} (the high-risk obligations) Art. 73 "
                        f"applies from {start:%Y-%m-%d}" if start else f"no high-risk phase for {cls} in the "
                        "regimes file")
    return Deadline(ART_73, "EU AI Act Art. 73", due, basis, True, f"{high[-1].title} (since {high[-1].start})")


def deadlines_for(settings: Settings, model: str, severity: str, serious: bool, serious_kind: str | None,
                  aware: dt.datetime, workspace_root: Any = None) -> tuple[Deadline, ...]:
    """The reporting deadlines of an incident, counted from when the firm became aware."""
    days = settings.policy.incidents.escalation_days[severity]
    out = []
    if serious:
        out.append(_art_73(settings, model, serious_kind, aware, workspace_root))
    out.append(Deadline(ESCALATION, "Internal escalation (PRA SS1/23)", aware + dt.timedelta(days=days),
                        f"[policy.incidents] escalation_days.{severity} = {days}"))
    return tuple(out)


# -- reading ------------------------------------------------------------------------------------------------------


def _incident(row: dict[str, Any], events: list[dict[str, Any]], now: dt.datetime) -> Incident:
    mine = tuple(IncidentEvent(e["event_id"], e["kind"], e["actor"], e["happened_at"], e["text"] or "",
                               (e["detail"] or {}).get("rule")) for e in events if e["incident_id"] == row["incident_id"])
    met = {}
    for e in mine:
        if e.kind == "report" and e.rule and e.rule not in met:
            met[e.rule] = e.at
    deadlines = tuple(replace(Deadline(**{k: v for k, v in d.items() if k != "status"}),
                              due_at=dt.datetime.fromisoformat(d["due_at"]) if isinstance(d["due_at"], str)
                              else d["due_at"], met_at=met.get(d["rule"]))
                      for d in row["deadlines"] or ())
    fields = {k: row[k] for k in ("incident_id", "version_id", "model", "title", "description", "occurred_at",
                                  "aware_at", "impact", "severity", "serious", "serious_kind", "recorded_by",
                                  "recorded_at", "ledger_hash")}
    return Incident(**fields, deadlines=deadlines, events=mine, as_of=now)


def incidents_of(settings: Settings, catalog: Catalog, *, version_id: str | None = None, model: str | None = None,
                 include_closed: bool = True, now: dt.datetime | None = None) -> list[Incident]:
    """Incidents (of a version or a model), newest first, as of ``now`` (no role check: callers check)."""
    moment = now or utcnow()
    where = {k: v for k, v in (("version_id", version_id), ("model", model)) if v}
    rows = catalog.lifecycle_rows("incidents", where)
    events = catalog.lifecycle_rows("incident_events")
    found = [_incident(r, events, moment) for r in reversed(rows)]
    return [i for i in found if include_closed or i.status == "open"]


def register(ctx: Context, *, model: str | None = None, version_id: str | None = None, include_closed: bool = False,
             now: dt.datetime | None = None) -> IncidentRegister:
    """The incident register (open incidents unless ``include_closed``), newest first (needs "view")."""
    require(ctx.identity, "view")
    moment = now or utcnow()
    return IncidentRegister(moment, tuple(incidents_of(ctx.settings, ctx.catalog, version_id=version_id, model=model,
                                                       include_closed=include_closed, now=moment)))


def get_incident(ctx: Context, incident_id: str, *, now: dt.datetime | None = None) -> Incident:
    """One incident with its deadlines and events (needs "view")."""
    require(ctx.identity, "view")
    found = next((i for i in incidents_of(ctx.settings, ctx.catalog, now=now) if i.incident_id == incident_id), None)
    if found is None:
        raise NotFound(f"unknown incident {incident_id!r} (list them with 'countersign incident list --all')")
    return found


def overdue_alerts(settings: Settings, catalog: Catalog, now: dt.datetime) -> list[tuple[Incident, Deadline]]:
    """Each open incident's deadlines past without a report: what ``countersign notify`` announces."""
    return [(i, d) for i in incidents_of(settings, catalog, include_closed=False, now=now) for d in i.overdue]


# -- writing ------------------------------------------------------------------------------------------------------


def _checked(version_id: str, title: str, impact: str, severity: str, serious: bool, serious_kind: str | None,
             occurred: dt.datetime, aware: dt.datetime) -> tuple[str, str]:
    """The incident's facts checked before anything is written; returns the stripped title and impact."""
    if severity not in SEVERITIES:
        raise InputError(f"unknown severity {severity!r}: choose one of {', '.join(SEVERITIES)}")
    if serious and serious_kind not in SERIOUS_KINDS:
        raise InputError("a serious incident (EU AI Act Art. 3(49)) names what makes it serious: one of "
                         f"{', '.join(SERIOUS_KINDS)}")
    if not serious and serious_kind:
        raise InputError("serious_kind only for a serious incident (set serious)")
    if aware < occurred:
        raise InputError(f"the firm became aware before it happened ({aware:%Y-%m-%d %H:%M} < "
                         f"{occurred:%Y-%m-%d %H:%M}); check both times")
    return required_text(title, "what happened (a title)"), required_text(impact, "the impact")


def record_incident(ctx: Context, version_id: str, title: str, impact: str, severity: str, serious: bool, *,
                    serious_kind: str | None = None, description: str | None = None,
                    occurred_at: dt.datetime | None = None, aware_at: dt.datetime | None = None,
                    now: dt.datetime | None = None) -> Incident:
    """Record an incident against ``version_id`` with its reporting deadlines."""
    require(ctx.identity, "record_incident")
    moment = now or utcnow()
    occurred, aware = occurred_at or moment, aware_at or moment
    title, impact = _checked(version_id, title, impact, severity, serious, serious_kind, occurred, aware)
    version = ctx.catalog.version(version_id)
    deadlines = deadlines_for(ctx.settings, version.model, severity, serious, serious_kind, aware, ctx.workspace.root)
    incident_id = new_dated_id("INC", moment)
    row = {"incident_id": incident_id, "version_id": version_id, "model": version.model, "title": title,
           "description": (description or "").strip() or None, "occurred_at": occurred, "aware_at": aware,
           "impact": impact, "severity": severity, "serious": serious, "serious_kind": serious_kind,
           "deadlines": [d.as_dict() for d in deadlines], "recorded_by": ctx.identity.email, "recorded_at": moment}
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the incident on {version_id}")
        entry = ledger.append(con, actor=ctx.identity.email, action="incident.record",
                              subject=incident_subject(incident_id), at=moment,
                              payload={k: v for k, v in row.items() if k not in ("incident_id", "recorded_at")})
        ctx.catalog.insert_lifecycle_row(con, "incidents", {**row, "ledger_hash": entry.hash})
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    return get_incident(ctx, incident_id, now=moment)


def _event(ctx: Context, incident_id: str, kind: str, text: str, action: str, now: dt.datetime | None,
           detail: dict[str, Any] | None = None) -> Incident:
    """Append one event to an open incident, with its ledger entry."""
    incident = get_incident(ctx, incident_id, now=now)
    if incident.status == "closed":
        raise ConflictError(f"incident {incident_id} is closed; record a new incident if it recurred")
    moment = now or utcnow()
    event_id = new_event_id("INE")
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the {kind} on incident {incident_id}")
        entry = ledger.append(con, actor=ctx.identity.email, action=action, subject=incident_subject(incident_id),
                              at=moment, payload={"event_id": event_id, "text": text, **(detail or {})})
        ctx.catalog.insert_lifecycle_row(con, "incident_events", {
            "event_id": event_id, "incident_id": incident_id, "kind": kind, "actor": ctx.identity.email,
            "happened_at": moment, "text": text, "detail": detail or {}, "ledger_hash": entry.hash})
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    return get_incident(ctx, incident_id, now=moment)


def add_action(ctx: Context, incident_id: str, text: str, *, now: dt.datetime | None = None) -> Incident:
    """Record an action taken on an open incident."""
    require(ctx.identity, "manage_incident")
    return _event(ctx, incident_id, "action", required_text(text, "what was done"), "incident.action", now)


def file_report(ctx: Context, incident_id: str, rule: str, text: str, *, now: dt.datetime | None = None) -> Incident:
    """Record that the report a rule asks for was made (to whom, its reference): it meets that deadline."""
    require(ctx.identity, "manage_incident")
    if rule not in RULES:
        raise InputError(f"unknown reporting rule {rule!r}: choose one of {', '.join(RULES)}")
    return _event(ctx, incident_id, "report", required_text(text, "to whom it was reported and its reference"),
                  "incident.report", now, {"rule": rule})


def close_incident(ctx: Context, incident_id: str, text: str, *, now: dt.datetime | None = None) -> Incident:
    """A risk officer closes an incident with its resolution."""
    require(ctx.identity, "close_incident")
    return _event(ctx, incident_id, "close", required_text(text, "the resolution", minimum=5), "incident.close", now)
