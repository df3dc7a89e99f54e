"""What a policy gate is: a pure function of a :class:`GateContext` returning a :class:`GateResult`, registered with
when it applies, the evidence kind it reads and whether scheduled monitoring can breach it.

A gate answers ``pass``, ``fail`` or ``missing`` (the evidence it needs does not exist, or is older than the tier
allows), together with the evidence it used. Gate modules import this module only, never :mod:`governance.policy`
(which evaluates them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from core.wording import words
from governance.analytics.summaries import summary_from_json

if TYPE_CHECKING:
    from governance.catalog import Catalog, Version
    from governance.config import ModelConfig, TierPolicy

Status = Literal["pass", "fail", "missing"]


@dataclass(frozen=True)
class EvidenceRef:
    """The evidence a gate looked at: its id, kind, age and typed summary (a stored JSON dict is read into it)."""

    evidence_id: str
    kind: str
    computed_at: dt.datetime | None
    summary: Any

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


Findings = Callable[[GateResult, Any], tuple[list[str], "float | None"]]
"""(a failing result, the summary it read) → the columns or attributes the breach is about, and its figure."""


@dataclass(frozen=True)
class Gate:
    """A registered gate.

    Attributes:
        name: how tiers and checklists name it.
        applies: whether a tier's thresholds turn it on (a tier's ``gates`` list names gates explicitly instead).
        check: the gate itself.
        help: what it checks, for people.
        evidence_kind: the evidence kind it reads (None: it reads the catalog only).
        label: how people see the gate (default: its name).
        monitoring: whether scheduled monitoring can breach it (new data changes its verdict): a failing
            monitoring gate starts a triggered review.
        applies_to_model: whether a model's own settings turn it on where its tier's thresholds would not.
        findings: what a breach of it is about (columns, figure), for monitoring gates.
        clears: what would clear a failing result, in words (``countersign why`` and the pages print it).
    """

    name: str
    applies: Callable[[TierPolicy], bool]
    check: Callable[[GateContext], GateResult]
    help: str
    evidence_kind: str | None = None
    label: str = ""
    monitoring: bool = False
    applies_to_model: Callable[[ModelConfig], bool] | None = None
    findings: Findings | None = None
    clears: str = ""


def fresh(ctx: GateContext, gate: str, kind: str) -> tuple[EvidenceRef | None, GateResult | None]:
    """The evidence of ``kind``, or the 'missing' result explaining why it cannot be used."""
    ev = ctx.evidence(ctx.version.version_id, kind)
    if ev is None:
        return None, GateResult(gate, "missing", f"no {words(kind)} evidence for {ctx.version.version_id}: compute it "
                                f"on the Review page or with 'countersign review --version "
                                f"{ctx.version.version_id}'")
    limit = ctx.tier.evidence_max_age_days
    if limit is not None and ev.computed_at is not None:
        age = (ctx.now - ev.computed_at).total_seconds() / 86400
        if age > limit:
            return ev, GateResult(gate, "missing", f"{kind} evidence is {age:.0f} days old; tier {ctx.tier_name} "
                                  f"accepts at most {limit} days: compute it again", evidence=(ev,))
    return ev, None
