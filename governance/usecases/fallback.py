"""The fallback and kill switch register, as the Model page's fallback panel and the CLI (``fallback``,
``fallback-plan``) see and act on it (docs/lifecycle.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from governance.context import Context

if TYPE_CHECKING:
    from governance.fallback import FallbackExecution, FallbackPlan, FallbackRegister, Rehearsal


@dataclass(frozen=True)
class ExecuteFallbackCommand:
    """EMERGENCY: execute the approved fallback of ``model`` in ``environment`` (None: the last one, prod) now."""

    model: str
    reason: str
    environment: str | None = None


@dataclass(frozen=True)
class ProposeFallbackCommand:
    """Name the fallback of a model in use: a version, a challenger, or switching off to a business process."""

    model: str
    kind: str
    reason: str
    environment: str | None = None
    version: str | None = None
    business_process: str | None = None


@dataclass(frozen=True)
class DecidePlanCommand:
    """A risk officer approves or rejects a proposed plan."""

    plan_id: str
    decision: Literal["approve", "reject"]
    comment: str


@dataclass(frozen=True)
class ReviewFallbackCommand:
    """Another risk officer reviews an emergency execution after the fact."""

    event_id: str
    comment: str


def _environment(ctx: Context, given: str | None) -> str:
    """The environment named, else the last one of the order (where a fallback matters most)."""
    return given or ctx.settings.environments.order[-1]


def open_fallbacks(ctx: Context, *, model: str | None = None) -> FallbackRegister:
    """The register (of ``model`` only when given): the fallback panel and ``countersign fallback-plan list``."""
    from governance.fallback import register

    return register(ctx, model=model)


def execute_fallback(ctx: Context, command: ExecuteFallbackCommand) -> FallbackExecution:
    """The emergency path as ``ctx``'s identity (the Execute fallback button, ``countersign fallback``)."""
    from governance.fallback import execute

    return execute(ctx, command.model, _environment(ctx, command.environment), command.reason)


def propose_fallback(ctx: Context, command: ProposeFallbackCommand) -> FallbackPlan:
    """Propose a plan (``countersign fallback-plan propose``)."""
    from governance.fallback import propose

    return propose(ctx, command.model, _environment(ctx, command.environment), command.kind, command.reason,
                   fallback_version=command.version, business_process=command.business_process)


def decide_plan(ctx: Context, command: DecidePlanCommand) -> FallbackPlan:
    """Approve or reject a proposed plan (``countersign fallback-plan approve|reject``)."""
    from governance.fallback import approve_plan, reject_plan

    decide = approve_plan if command.decision == "approve" else reject_plan
    return decide(ctx, command.plan_id, command.comment)


def rehearse_fallback(ctx: Context, plan_id: str) -> Rehearsal:
    """A dry run of a plan, recorded (the Rehearse button, ``countersign fallback-plan rehearse``)."""
    from governance.fallback import rehearse

    return rehearse(ctx, plan_id)


def review_fallback(ctx: Context, command: ReviewFallbackCommand) -> FallbackExecution:
    """Review an emergency execution after the fact (``countersign fallback-plan review``)."""
    from governance.fallback import review_execution

    return review_execution(ctx, command.event_id, command.comment)
