"""When a gate checklist evaluated for a view may still decide: the use cases evaluate the gates once per view and
hand that checklist to the decision, unless what the gates read has changed since.

The gates read the catalog (the version, its model and card, its lineage, the evidence) and the policy in
``countersign.toml``, at a moment (evidence too old for the tier is ``missing``). Every change of consequence to the
catalog appends to the ledger (syncs, decisions, reviews, exports), and evidence rows are only ever inserted; so a
:class:`Basis` — the ledger's head, the evidence table's marker and a digest of the policy the gates apply — that
reads the same as when the checklist was evaluated means the gates would read the same today. The checklist also
expires: when the oldest evidence it used passes the tier's ``evidence_max_age_days``, and after
:data:`MAX_REUSE` in any case. A view older than that, or any change at all, and the gates are evaluated again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.canonical import record_hash
from core.clock import utcnow
from core.structs import to_builtins
from governance.context import Context

MAX_REUSE = dt.timedelta(minutes=10)  # a decision on a view older than this evaluates the gates again


@dataclass(frozen=True)
class Basis:
    """What a checklist was evaluated on, read back cheaply: the ledger head, the evidence marker, the policy."""

    ledger: tuple[int, str]
    evidence: tuple[int, dt.datetime | None]
    policy: str


def basis_of(ctx: Context) -> Basis:
    """The basis of a checklist evaluated now in ``ctx`` (two one-row queries and a digest of the settings)."""
    from governance import ledger

    settings = ctx.settings
    policy = record_hash({"policy": to_builtins(settings.policy),
                          "models": {k: to_builtins(m) for k, m in settings.models.items()},
                          "environments": list(settings.environments.order)})
    return Basis(ledger.head(ctx.catalog), ctx.catalog.evidence_marker(), policy)


def valid_until(ctx: Context, evaluated_at: dt.datetime, evidence_times: tuple[dt.datetime | None, ...],
                tier_name: str) -> dt.datetime:
    """The moment a checklist evaluated at ``evaluated_at`` stops holding by time alone: :data:`MAX_REUSE` later,
    or earlier when an evidence row it used passes the tier's ``evidence_max_age_days``."""
    until = evaluated_at + MAX_REUSE
    limit = ctx.settings.tier(tier_name).evidence_max_age_days
    if limit is not None:
        for at in evidence_times:
            if at is not None:
                until = min(until, at + dt.timedelta(days=limit))
    return until


def still_holds(ctx: Context, basis: Basis, until: dt.datetime, now: dt.datetime | None = None) -> bool:
    """Whether a checklist evaluated on ``basis`` (holding until ``until``) would read the same now."""
    return (now or utcnow()) < until and basis_of(ctx) == basis
