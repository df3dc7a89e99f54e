"""Registry events into history: each change recorded with the event's own time, the sync that follows agreeing.

An event is stored first (``history_events``, keyed by its id: a redelivery is recorded once), then applied in
its own time order with the other events of its account that arrived by then: the open history row of each
version it changes is closed at the event's time and a row with the new state opens (``change_source`` ``event``,
``confidence`` ``exact``), tied to one ledger entry (``history.event``) per batch. The state is computed as a sync
computes it (:func:`governance.catalog.history.state_hash`), so the incremental sync the event triggers finds the
same state and records nothing more: an event and a sync seeing the same change are one change. What an event
cannot write itself (a version the catalog does not have yet, an endpoint whose variants the sync reads) becomes a
hint: the sync's row for that change takes the event's time.

An event older than the state already recorded (delivered late, after a sync saw a later state) is kept as ``late``
and changes nothing: history rows are never rewritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.base import RegistryChange, RegistryEvent
from core.clock import utcnow
from core.ids import version_id_for
from governance.catalog.history import state_hash
from governance.catalog.records import from_json, to_json
from governance.changes import UNKNOWN_STATUS, VersionState, apply_change, environment_of
from governance.identity import require

if TYPE_CHECKING:
    from governance.context import Context

Hints = dict[str, tuple[dt.datetime, str]]


def event_row(account: str | None, channel: str, kind: str, payload: str, *, event: RegistryEvent | None = None,
              event_id: str | None = None, status: str = "pending", detail: str | None = None) -> dict[str, Any]:
    """The ``history_events`` row of a received event (``event`` parsed, or ``event_id`` when it could not be)."""
    return {"event_id": event.event_id if event else event_id, "account": account, "channel": channel,
            "kind": kind, "event_time": event.at if event else None, "received_at": utcnow(),
            "version_id": version_id_for(account, event.model, event.version)
            if event and account and event.model and event.version is not None else None,
            "payload": payload, "payload_sha256": hashlib.sha256(payload.encode()).hexdigest(),
            "status": status, "detail": detail}


@dataclass(frozen=True)
class Applied:
    """How one account's batch of events ended."""

    account: str
    outcomes: tuple[tuple[str, str, str | None], ...]  # (event id, status, detail)
    rows: int
    hints: Mapping[str, tuple[dt.datetime, str]] = field(default_factory=dict)
    ledger_seq: int | None = None

    def count(self, status: str) -> int:
        """How many events of the batch ended in ``status``."""
        return sum(1 for _, s, _ in self.outcomes if s == status)


@dataclass
class _Batch:
    """What applying one account's events builds inside its transaction."""

    opened: dict[str, dict[str, Any]]  # version id → its open row (updated as events apply)
    closes: list[tuple[str, dt.datetime, str]] = field(default_factory=list)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # history id → new row
    hints: Hints = field(default_factory=dict)


def apply_events(ctx: Context, account: str, events: list[tuple[dict[str, Any], RegistryEvent]]) -> Applied:
    """Apply ``events`` (stored row, parsed event; in their own time order) to ``account``'s history in one
    transaction with one ledger entry; refused (nothing written) when the ledger's tail is not sealed."""
    from governance import ledger
    from governance.ledger.subjects import account_subject

    require(ctx.identity, "sync")
    config = ctx.settings.account(account)
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"recording registry events of {account}")
        batch = _Batch(ctx.catalog.open_version_states(con, account))
        refs = ctx.catalog.version_refs(con, account)
        outcomes = [_apply_one(config, batch, refs, row, event) for row, event in events]
        entry = ledger.append(con, actor=ctx.identity.email, action="history.event", subject=account_subject(account),
                              payload={"events": [{"event_id": row["event_id"], "kind": row["kind"],
                                                   "at": event.at.isoformat(), "status": status,
                                                   "payload_sha256": hashlib.sha256(
                                                       (row["payload"] or "").encode()).hexdigest()}
                                                  for (row, event), (_, status, _) in zip(events, outcomes,
                                                                                          strict=True)],
                                       "rows": len(batch.rows)})
        for r in batch.rows.values():
            r.update(ledger_seq=entry.seq, ledger_hash=entry.hash)
        ctx.catalog.replace_states(con, batch.closes, list(batch.rows.values()))
        ctx.catalog.mark_events(con, outcomes, utcnow(), (entry.seq, entry.hash))
    return Applied(account, tuple(outcomes), len(batch.rows), dict(batch.hints), entry.seq)


def _resolve(account: str, refs: list[dict[str, Any]], change: RegistryChange) -> str | None:
    """The catalog id of the version ``change`` is about (by registry id, else model and number)."""
    if change.source_ref:
        for r in refs:
            if (r["source_ref"] or "").lower() == change.source_ref.lower():
                return r["version_id"]
    if change.model is None or change.version is None:
        return None
    for r in refs:
        if r["model"] == change.model and r["version"] == change.version:
            return r["version_id"]
    return version_id_for(account, change.model, change.version)


def _apply_one(config: Any, batch: _Batch, refs: list[dict[str, Any]], row: dict[str, Any],
               event: RegistryEvent) -> tuple[str, str, str | None]:
    """Apply one event's changes to ``batch``; its outcome (event id, status, detail)."""
    if not event.changes:
        return row["event_id"], "ignored", f"{event.kind}: no change Countersign records"
    written, waiting, late = 0, [], []
    for change in event.changes:
        if change.what == "deployment":
            if change.endpoint:
                batch.hints[f"{config.name}:{change.endpoint}:*"] = (event.at, row["event_id"])
                waiting.append(change.endpoint)
            continue
        vid = _resolve(config.name, refs, change)
        if vid is None:
            continue
        moves = [(vid, change)]
        if change.action == "label" and not change.removed:  # a label held by one version of a model at a time
            model = next((r["model"] for r in refs if r["version_id"] == vid), change.model)
            moves += [(other, RegistryChange(**{**change.__dict__, "removed": True}))
                      for other, open_row in batch.opened.items() if other != vid and open_row["model"] == model
                      and change.label in (from_json(open_row["labels"]) or [])]
        for target, move in moves:
            outcome = _move(config, batch, target, move, event, row["event_id"])
            written += outcome == "applied"
            if outcome == "waiting":
                batch.hints[target] = (event.at, row["event_id"])
                waiting.append(target)
            elif outcome == "late":
                late.append(target)
    if written:
        return row["event_id"], "applied", None
    if late:
        return row["event_id"], "late", (f"older than the state recorded for {', '.join(late)}; kept, history "
                                         "unchanged")
    if waiting:
        return row["event_id"], "waiting sync", f"the sync records {', '.join(waiting)} with the event's time"
    return row["event_id"], "unchanged", "the state it states was recorded already"


def _move(config: Any, batch: _Batch, vid: str, change: RegistryChange, event: RegistryEvent,
          event_id: str) -> str:
    """Apply one change to version ``vid``'s open row: ``applied``, ``unchanged``, ``late`` or ``waiting`` (no row)."""
    open_row = batch.opened.get(vid)
    if open_row is None:
        return "waiting"
    before = VersionState(open_row["approval_status"], open_row["approval_description"],
                          tuple(from_json(open_row["labels"]) or ()))
    after = apply_change(before, change)
    if after is None:
        return "waiting"  # a deletion: the next full pass closes the row (and a hint gives it this time)
    environment = environment_of(config, after.labels)
    card = from_json(open_row["card"])
    digest = state_hash(environment, after.status or UNKNOWN_STATUS, after.description, after.labels, card)
    if digest == open_row["state_hash"]:
        return "unchanged"
    if event.at < open_row["valid_from"]:
        return "late"
    new = {**open_row, "history_id": f"{event_id}:{vid}", "environment": environment,
           "approval_status": after.status or UNKNOWN_STATUS, "approval_description": after.description,
           "labels": to_json(list(after.labels)), "state_hash": digest, "valid_from": event.at,
           "time_source": "source", "valid_to": None, "valid_to_source": None, "sync_id": event_id,
           "request_id": None, "closed_by_sync": None, "change_source": "event", "confidence": "exact",
           "changed_by": change.actor, "note": change.note or event.kind, "evidence": change.evidence,
           "event_id": event_id, "backfill_id": None, "superseded_by": None}
    if open_row["history_id"] in batch.rows:  # opened by this batch: it ends before it was written
        batch.rows[open_row["history_id"]]["valid_to"] = event.at
        batch.rows[open_row["history_id"]]["valid_to_source"] = "source"
        batch.rows[open_row["history_id"]]["closed_by_sync"] = event_id
    else:
        batch.closes.append((open_row["history_id"], event.at, event_id))
    batch.rows[new["history_id"]] = new
    batch.opened[vid] = new
    return "applied"


def group_by_account(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Stored events per account, in the order given."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["account"]].append(r)
    return out
