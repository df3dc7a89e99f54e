"""Sign-off as a service: what the Requests page and the CLI both call to show a request and to decide on it.

:func:`review_request` gathers one request with everything a decision needs (its version, the gate checklist,
the gates that block approval now, what the person may do). :func:`decide` carries out one action — approve,
reject, cancel or execute — and, when an approval completes the request and the approver may execute, runs the
execution at once; it returns a typed :class:`DecisionOutcome`. :func:`review_in` and :func:`decide_in` are the
same given one :class:`~governance.context.Context` (the CLI's opened workspace, the portal's session). The rules
themselves live in ``governance.promotion`` and ``governance.policy``; nothing here decides differently for a page
or a command."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from core.errors import InputError
from governance.catalog import Catalog, Version
from governance.config import Settings, Workspace
from governance.context import Context
from governance.identity import Identity
from governance.policy import Checklist, GateResult, evaluate
from governance.promotion import (
    ConnectorFactory,
    Decision,
    Request,
    RiskAcceptance,
    allowed_actions,
    approve,
    blocking_gates,
    cancel,
    execute,
    get_request,
    reject,
)

Action = Literal["approve", "reject", "cancel", "execute"]
ACTIONS: tuple[Action, ...] = ("approve", "reject", "cancel", "execute")
Outcome = Literal["pending", "approved", "executing", "executed", "failed", "rejected", "cancelled"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class RequestReview:
    """One request as a decision-maker sees it, evaluated at ``now``."""

    request: Request
    version: Version
    checklist: Checklist
    blocking: tuple[GateResult, ...]
    actions: frozenset[str]
    now: dt.datetime

    @property
    def blocking_gates(self) -> tuple[str, ...]:
        """Names of the gates that block approval now (a risk acceptance may name only these)."""
        return tuple(r.gate for r in self.blocking)

    def expired(self, acceptance: Decision) -> bool:
        """Whether a risk acceptance of this request has lapsed (as of :attr:`now`)."""
        return acceptance.expired(self.now)


def review_request(catalog: Catalog, settings: Settings, identity: Identity, request_id: str, *,
                   now: dt.datetime | None = None) -> RequestReview:
    """The request ``request_id`` with its version, gate checklist, blocking gates and the actions open to
    ``identity`` (read only)."""
    moment = now or _now()
    request = get_request(catalog, request_id)
    version = catalog.version(request.version_id)
    checklist = evaluate(catalog, settings, request.version_id, request.to_env, now=moment)
    return RequestReview(request, version, checklist, blocking_gates(request, checklist, moment),
                         allowed_actions(identity, request, version), moment)


@dataclass(frozen=True)
class DecisionOutcome:
    """Where a request stands after one action: ``pending`` (N of M approvals), ``approved`` (awaiting
    execution), ``executed``, ``failed`` (execution failed; retry with execute), ``rejected`` or ``cancelled``."""

    action: Action
    request: Request
    executed_now: bool = False

    @property
    def outcome(self) -> Outcome:
        return self.request.status  # type: ignore[return-value]

    @property
    def approvals(self) -> int:
        return len(self.request.approvers)

    @property
    def approvals_required(self) -> int:
        return self.request.approvals_required

    @property
    def failed(self) -> bool:
        """Whether execution failed (the CLI exits 1, the page warns)."""
        return self.outcome == "failed"

    @property
    def message(self) -> str:
        """One line for people: ``PR-… is executed.`` or ``PR-… is failed: <step>: <error>``."""
        rid = self.request.request_id
        if self.failed:
            return f"{rid} is {self.outcome}: {self.request.execution_error}"
        return f"{rid} is {self.outcome}."


def decide(
    workspace: Workspace,
    settings: Settings,
    catalog: Catalog,
    actor: Identity,
    request_id: str,
    action: Action,
    comment: str = "",
    *,
    risk_acceptance: RiskAcceptance | None = None,
    execute_after_approval: bool = True,
    takeover: bool = False,
    connectors: ConnectorFactory | None = None,
    now: dt.datetime | None = None,
) -> DecisionOutcome:
    """Carry out ``action`` on a request as ``actor``; an approval that completes the request is executed at
    once when ``execute_after_approval`` and the approver may execute. Role and four-eyes checks happen inside.

    Raises the errors of the action itself (:class:`AccessDenied`, :class:`ConflictError`, :class:`InputError`);
    a failed execution is not an error but the outcome ``failed``.
    """
    if action not in ACTIONS:
        raise InputError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    if risk_acceptance is not None and action != "approve":
        raise InputError("a risk acceptance goes only with an approval")
    if action == "approve":
        request = approve(workspace, settings, catalog, actor, request_id, comment,
                          risk_acceptance=risk_acceptance, now=now)
        if request.status == "approved" and execute_after_approval and actor.can("execute"):
            request = execute(workspace, settings, catalog, actor, request_id, connectors=connectors, now=now)
            return DecisionOutcome(action, request, executed_now=True)
        return DecisionOutcome(action, request)
    if action == "reject":
        return DecisionOutcome(action, reject(workspace, settings, catalog, actor, request_id, comment, now=now))
    if action == "cancel":
        return DecisionOutcome(action, cancel(workspace, settings, catalog, actor, request_id, comment, now=now))
    request = execute(workspace, settings, catalog, actor, request_id, takeover=takeover, connectors=connectors,
                      now=now)
    return DecisionOutcome(action, request, executed_now=True)


def review_in(ctx: Context, request_id: str, *, now: dt.datetime | None = None) -> RequestReview:
    """:func:`review_request` for the identity acting in ``ctx``."""
    return review_request(ctx.catalog, ctx.settings, ctx.identity, request_id, now=now)


def decide_in(
    ctx: Context,
    request_id: str,
    action: Action,
    comment: str = "",
    *,
    risk_acceptance: RiskAcceptance | None = None,
    execute_after_approval: bool = True,
    takeover: bool = False,
    connectors: ConnectorFactory | None = None,
    now: dt.datetime | None = None,
) -> DecisionOutcome:
    """:func:`decide` as the identity acting in ``ctx`` (the CLI's opened workspace, the portal's session)."""
    return decide(ctx.workspace, ctx.settings, ctx.catalog, ctx.identity, request_id, action, comment,
                  risk_acceptance=risk_acceptance, execute_after_approval=execute_after_approval, takeover=takeover,
                  connectors=connectors, now=now)
