"""History from the registries' own records, as ``countersign backfill`` (before the first sync) and ``countersign
listen`` (registry events as they happen) run it (docs/events.md)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.progress import ProgressFn, no_progress
from governance.context import Context

if TYPE_CHECKING:
    from governance.backfill import BackfillResult


@dataclass(frozen=True)
class BackfillCommand:
    """Rebuild ``account``'s history before its first sync (from ``since``; SageMaker: CloudTrail files at
    ``records``, an ``s3://`` prefix or a local copy)."""

    account: str
    since: dt.datetime | None = None
    records: str | None = None


@dataclass(frozen=True)
class ListenCommand:
    """Where to listen (None: ``[listen]``'s address and port), the SQS queue, and whether to sync after events."""

    address: str | None = None
    port: int | None = None
    queue_url: str | None = None
    sync_after: bool = True


@dataclass(frozen=True)
class ListenSummary:
    """What a listener saw between its start and its stop."""

    url: str
    counts: Mapping[str, int] = field(default_factory=dict)
    last_error: str | None = None


def backfill(ctx: Context, command: BackfillCommand, progress: ProgressFn = no_progress) -> BackfillResult:
    """Backfill as ``ctx``'s identity, idempotently, tied to one ledger entry (``countersign backfill``)."""
    from governance.backfill import backfill as run

    return run(ctx, command.account, since=command.since, records=command.records, progress=progress)


def listen(ctx: Context, command: ListenCommand, environ: Mapping[str, str], stop: threading.Event, *,
           started: Callable[[str], None] = lambda url: None) -> ListenSummary:
    """Receive registry events until ``stop`` is set (webhook secrets read from ``environ``, the variables
    ``[listen]`` names); ``started(url)`` is called once the server is bound (``countersign listen``)."""
    from governance.listen import build_listener

    listener = build_listener(ctx, environ, queue_url=command.queue_url, sync_after=command.sync_after)
    listener.start(command.address, command.port)
    try:
        started(listener.url)
        stop.wait()
    finally:
        listener.stop()
    return ListenSummary(listener.url, listener.counts.snapshot(), listener.last_error)
