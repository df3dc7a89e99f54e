"""Why is this version blocked? One sentence per thing standing in its way, with the figure and what would clear it.

A data scientist should not have to find the Requests or Review page to learn why a version cannot move: the
Inventory's row detail, the Model page and ``countersign why VERSION`` all read :func:`why_blocked`, which evaluates
the tier's gates for the version's next promotion once (the same checklist a request would freeze), and adds what a
gate cannot see: an open request still waiting for approvals, and a version serving without a sign-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.wording import words
from governance.identity import require

if TYPE_CHECKING:
    from governance.context import Context
    from governance.policy import GateResult


def _clears(gate: str, otherwise: str) -> str:
    """What clears a failing ``gate``: its registered ``clears`` (a gate that lacks evidence says in its own message
    how to compute it), else ``otherwise``."""
    from governance import gates

    known = gates.REGISTRY.get(gate)
    return (known.clears if known is not None else "") or otherwise


@dataclass(frozen=True)
class Blocker:
    """One thing standing between the version and its next environment."""

    kind: str  # a gate name, "approvals" or "unapproved_deployment"
    label: str  # the gate or reason in words
    sentence: str  # what is wrong, with the figure
    clears: str  # what would clear it

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"kind": self.kind, "label": self.label, "sentence": self.sentence, "clears": self.clears}


@dataclass(frozen=True)
class WhyBlocked:
    """The answer for one version: where it would go next and everything blocking it (none: it may be requested)."""

    version_id: str
    environment: str
    to_env: str
    tier: str
    blockers: tuple[Blocker, ...]

    @property
    def blocked(self) -> bool:
        return bool(self.blockers)

    def headline(self) -> str:
        """One line: blocked or not, and how many things stand in the way."""
        if self.environment == self.to_env:
            where = f"in {self.environment}, its last environment"
        else:
            where = f"from {self.environment} to {self.to_env}"
        if not self.blocked:
            return f"{self.version_id} ({where}, tier {self.tier}): nothing blocks it; a promotion may be requested"
        n = len(self.blockers)
        return f"{self.version_id} ({where}, tier {self.tier}) is blocked by {n} thing{'s' if n > 1 else ''}"

    def lines(self) -> list[str]:
        """The headline, then one sentence per blocker with what clears it."""
        return [self.headline(), *(f"  ✗ {b.label}: {b.sentence} — to clear: {b.clears}" for b in self.blockers)]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"version_id": self.version_id, "environment": self.environment, "to_env": self.to_env,
                "tier": self.tier, "blocked": self.blocked, "headline": self.headline(),
                "blockers": [b.as_dict() for b in self.blockers]}


def _gate_blocker(result: GateResult) -> Blocker:
    label = words(result.gate)
    if result.status == "missing":
        # the gate's own message says which evidence is missing and the command that computes it
        sentence, _, how = result.message.partition(": ")
        return Blocker(result.gate, label, sentence, how or _clears(result.gate, "supply what the gate reads"))
    return Blocker(result.gate, label, result.message, _clears(result.gate, "see the gate's help on Review"))


def _open_request_blockers(ctx: Context, version_id: str) -> list[Blocker]:
    out = []
    for request in ctx.catalog.requests_in(("pending",)):
        if request.version_id != version_id:
            continue
        have, need = len(set(request.approvers)), request.approvals_required
        out.append(Blocker(
            "approvals", "approvals",
            f"request {request.request_id} to {request.to_env} has {have} of {need} approval{'s' if need > 1 else ''}",
            f"{need - have} more approval{'s' if need - have > 1 else ''} by a risk officer who neither requested "
            "it nor created the version (four eyes)"))
    return out


def _serving_blockers(ctx: Context, version_id: str) -> list[Blocker]:
    from governance.binding import check_deployments

    return [Blocker("unapproved_deployment", "unapproved deployment", f.sentence,
                    "promote it through a Countersign request, or move the serving label back to the approved "
                    "version")
            for f in check_deployments(ctx) if f.version_id == version_id]


def why_blocked(ctx: Context, version_id: str, to_env: str | None = None) -> WhyBlocked:
    """Everything blocking ``version_id`` from its next environment (or ``to_env``), each with what clears it."""
    from governance.policy import evaluate, next_environment

    require(ctx.identity, "view")
    version = ctx.catalog.version(version_id)  # NotFound names the id and how to list versions
    target = to_env or next_environment(ctx.settings, version.environment)
    checklist = evaluate(ctx.catalog, ctx.settings, version_id, target)
    blockers = [_gate_blocker(r) for r in checklist.blocking]
    blockers += _open_request_blockers(ctx, version_id)
    blockers += _serving_blockers(ctx, version_id)
    return WhyBlocked(version_id, version.environment, target, checklist.tier_name, tuple(blockers))
