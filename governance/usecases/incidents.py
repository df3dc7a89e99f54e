"""The incident register (EU AI Act Art. 73, PRA SS1/23 escalation), as the Model page's incident panel and
``countersign incident`` see and act on it (docs/lifecycle.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from governance.context import Context
from governance.incidents import SERIOUS_KINDS

if TYPE_CHECKING:
    from governance.incidents import Incident, IncidentRegister


__all__ = ["SERIOUS_KINDS", "IncidentQuery", "IncidentStepCommand", "IncidentsView", "RecordIncidentCommand",
           "incident_step", "open_incidents", "record_incident"]


@dataclass(frozen=True)
class IncidentQuery:
    """Which incidents: of one model (all models when None), open ones or closed ones too."""

    model: str | None = None
    include_closed: bool = False


@dataclass(frozen=True)
class IncidentsView:
    """The register, whether this person may record an incident, and the model's versions (for the form)."""

    register: IncidentRegister
    can_record: bool
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordIncidentCommand:
    """An incident against a version; a ``serious`` one names its Art. 3(49) kind in ``serious_kind``."""

    version_id: str
    title: str
    impact: str
    severity: str
    serious: bool = False
    serious_kind: str | None = None
    description: str | None = None
    occurred_at: dt.datetime | None = None
    aware_at: dt.datetime | None = None


@dataclass(frozen=True)
class IncidentStepCommand:
    """A later step of an incident: an action taken, the report a ``rule`` asks for, or its closing."""

    incident_id: str
    step: Literal["action", "report", "close"]
    text: str
    rule: str | None = None


def open_incidents(ctx: Context, query: IncidentQuery) -> IncidentsView:
    """The incident panel's and ``countersign incident list``'s one call."""
    from governance.incidents import register

    found = register(ctx, model=query.model, include_closed=query.include_closed)
    versions = tuple(v.version_id for v in ctx.catalog.versions_of(query.model)) if query.model else ()
    return IncidentsView(found, ctx.identity.can("record_incident"), versions)


def record_incident(ctx: Context, command: RecordIncidentCommand) -> Incident:
    """Record an incident with its reporting deadlines (Record incident, ``countersign incident record``)."""
    from governance.incidents import record_incident as record

    return record(ctx, command.version_id, command.title, command.impact, command.severity,
                  command.serious, serious_kind=command.serious_kind,
                  description=command.description, occurred_at=command.occurred_at, aware_at=command.aware_at)


def incident_step(ctx: Context, command: IncidentStepCommand) -> Incident:
    """Record an action, a report or the closing (``countersign incident action|report|close``)."""
    from core.errors import InputError
    from governance.incidents import add_action, close_incident, file_report

    if command.step == "report":
        if not command.rule:
            raise InputError("a report names the rule it meets: eu-ai-act-art-73 or pra-ss1-23-escalation")
        return file_report(ctx, command.incident_id, command.rule, command.text)
    step = {"action": add_action, "close": close_incident}.get(command.step)
    if step is None:
        raise InputError(f"unknown incident step {command.step!r}: action, report or close")
    return step(ctx, command.incident_id, command.text)
