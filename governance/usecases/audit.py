"""The ledger, as the Audit page and ``countersign ledger verify|checkpoint`` see it: its head, the filtered listing,
one entry in full, verification against the signed checkpoints, and a new checkpoint."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import CountersignError
from governance.context import Context

if TYPE_CHECKING:
    import pandas as pd

    from governance.ledger import Checkpoint, Entry, VerifyReport


@dataclass(frozen=True)
class AuditQuery:
    """The listing's filters (empty: any), the day range (UTC, either end open) and the entry shown in full."""

    actions: tuple[str, ...] = ()
    actor: str = ""
    model: str = ""
    first: dt.date | None = None
    last: dt.date | None = None
    subject: str = ""
    text: str = ""
    entry: int | None = None


@dataclass(frozen=True)
class AuditView:
    """The Audit page."""

    length: int
    head: str
    actions: tuple[str, ...]  # every action in the ledger, for the filter
    models: tuple[str, ...]
    can_checkpoint: bool
    rows: pd.DataFrame | None = None  # None: the filters are not valid (``error`` says why)
    error: CountersignError | None = None
    entry: Entry | None = None  # the entry asked for in full, when the listing holds it
    entry_error: CountersignError | None = None


def open_audit(ctx: Context, query: AuditQuery) -> AuditView:
    """The Audit page's one call: the ledger's head, the entries the filters select (newest first, at most 500) and
    the one asked for in full."""
    from governance import ledger

    length, head = ledger.head(ctx.catalog)
    base = (length, head, tuple(ledger.actions(ctx.catalog)), tuple(ctx.catalog.filter_values()["models"]),
            ctx.identity.can("checkpoint"))
    try:
        flt = ledger.LedgerFilter.for_days(query.first, query.last, actions=query.actions, actor=query.actor,
                                           subject=query.subject, text=query.text, model=query.model)
    except CountersignError as exc:
        return AuditView(*base, error=exc)
    rows = ledger.listing(ctx.catalog, flt)
    entry, entry_error = None, None
    if query.entry is not None and query.entry in set(rows["seq"]):  # a pick the filters still list
        try:
            entry = ledger.entry(ctx.catalog, query.entry)
        except CountersignError as exc:
            entry_error = exc
    return AuditView(*base, rows=rows, entry=entry, entry_error=entry_error)


def verify_ledger(ctx: Context, *, public_key: Path | None = None, witness: Path | None = None) -> VerifyReport:
    """Recompute the hash chain and compare it with the signed checkpoints and head (the Verify button, ``countersign
    ledger verify``)."""
    from governance import ledger

    return ledger.verify(ctx.workspace, ctx.catalog, ctx.identity, public_key=public_key, witness=witness,
                         person=ctx.settings.person)


def sign_checkpoint(ctx: Context, *, accept_unsealed: str | None = None) -> Checkpoint:
    """Sign the current head into checkpoints/ as ``ctx``'s identity (``accept_unsealed``: why entries no
    Countersign commit sealed are genuine, recorded in the ledger)."""
    from governance import ledger

    return ledger.checkpoint(ctx.workspace, ctx.catalog, ctx.identity, accept_unsealed=accept_unsealed)
