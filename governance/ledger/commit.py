"""Appending: the one write path of the ledger, and the group commit that shares one commit among threads.

:func:`append` / :func:`append_many` are the only code that writes the ``ledger`` table; nothing updates or deletes
its rows. After a durable commit the signed head (:mod:`governance.ledger.signed_head`) moves to the new newest entry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from core.canonical import canonical_json
from core.clock import naive_utc, utcnow
from core.errors import InputError
from governance.catalog import Catalog
from governance.catalog.connection import CatalogConnection, on_transaction_end
from governance.catalog.postgres import is_postgres, session_lock, session_unlock
from governance.ledger.chain import Entry, entry_hash, stored_head
from governance.ledger.signed_head import advance_after_commit, mark_start

_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CHUNK = 256  # rows per INSERT statement (DuckDB binds 8 parameters per row)
_HEAD_KEY = "ledger.head"


def _check_field(name: str, value: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InputError(f"ledger {name} must be text, got {type(value).__name__}")
    if not value and not allow_empty:
        raise InputError(f"ledger {name} must not be empty")
    if _CONTROL.search(value):
        raise InputError(f"ledger {name} {value!r} contains a control character (newline, tab…)")
    return value


@dataclass(frozen=True)
class NewEntry:
    """An entry to append: who did what to which subject, with details."""

    actor: str
    action: str
    subject: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)
    at: dt.datetime | None = None


def append(
    target: Catalog | duckdb.DuckDBPyConnection,
    *,
    actor: str,
    action: str,
    subject: str = "",
    payload: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> Entry:
    """Append one entry; returns it with its hash. See :func:`append_many` (the one write path)."""
    return append_many(target, [NewEntry(actor, action, subject, payload or {}, at)])[0]


def append_many(target: Catalog | duckdb.DuckDBPyConnection, items: Sequence[NewEntry]) -> list[Entry]:
    """Append entries in order (the only write path of the ledger); returns them with their hashes.

    Given a connection, the entries join the caller's open transaction, so they commit or roll back together
    with the change they record. Given a :class:`Catalog`, they are durable when this returns: appends from
    concurrent threads are *group-committed* (whoever holds the write lock writes everything queued so far in one
    statement, one commit), and while the file is kept open (:meth:`Catalog.keep_open`) the head of the chain
    comes from memory instead of a query.
    """
    prepared = [_prepare(item) for item in items]
    if not prepared:
        return []
    if isinstance(target, Catalog):
        return _group_commit(target, prepared)
    return _insert(target, prepared)


_Prepared = tuple[str, str, str, str, dict[str, Any], dt.datetime]


def _prepare(item: NewEntry) -> _Prepared:
    _check_field("actor", item.actor)
    _check_field("subject", item.subject, allow_empty=True)
    if not isinstance(item.action, str) or not _ACTION.match(item.action):
        raise InputError(f"ledger action {item.action!r} must look like 'request.approve' (lower case, dots)")
    payload = dict(item.payload)
    recorded = naive_utc(item.at or utcnow())
    return item.actor, item.action, item.subject, canonical_json(payload), payload, recorded


def _chain(head_: tuple[int, str], prepared: Sequence[_Prepared]) -> list[Entry]:
    seq, prev = head_
    out: list[Entry] = []
    for actor, action, subject, text, payload, recorded in prepared:
        seq += 1
        digest = entry_hash(seq, recorded, actor, action, subject, prev, text)
        out.append(Entry(seq, recorded, actor, action, subject, payload, prev, digest))
        prev = digest
    return out


def _write(con: duckdb.DuckDBPyConnection, entries: list[Entry], prepared: Sequence[_Prepared]) -> None:
    # seq is the primary key: a writer that started from a stale head fails here instead of forking the chain.
    for i in range(0, len(entries), _CHUNK):
        chunk = entries[i : i + _CHUNK]
        params: list[Any] = []
        for e, p in zip(chunk, prepared[i : i + _CHUNK], strict=True):
            params.extend((e.seq, e.recorded_at, e.actor, e.action, e.subject, p[3], e.prev_hash, e.hash))
        con.execute("INSERT INTO ledger VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)), params)


_pending = threading.local()  # the entries this thread appended inside the catalog transaction it is in


def _pending_entries() -> list[Entry]:
    """(this thread) The entries appended in its open catalog transaction so far, taken out."""
    entries: list[Entry] = getattr(_pending, "entries", [])
    _pending.entries = []
    return entries


def _insert(con: duckdb.DuckDBPyConnection, prepared: Sequence[_Prepared], *, track: bool = True) -> list[Entry]:
    """Append inside the caller's transaction; when it commits, :func:`_seal_transaction` moves the signed head over
    these entries before the file is released (``track``; the group commit moves it itself)."""
    # PostgreSQL: other processes' appends wait until this transaction ends and its head has moved
    session_lock(con, "ledger")
    entries = _chain(stored_head(con), prepared)
    _write(con, entries, prepared)
    if track:
        _pending.entries = [*getattr(_pending, "entries", []), *entries]
    if entries[0].seq == 1:  # the ledger's first entry: the signed head of this file may start from nothing
        if is_postgres(con):
            path = con.catalog_path
        else:
            row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
            path = Path(row[0]) if row and row[0] else None
        if path is not None:
            mark_start(path)
    return entries


@on_transaction_end
def _seal_transaction(catalog: CatalogConnection, con: duckdb.DuckDBPyConnection, committed: bool) -> None:
    """After a catalog transaction: move the signed head over the entries it committed, before the file (and, on
    PostgreSQL, the ledger's lock) is let go, so no other writer ever sees entries the head does not cover."""
    entries = _pending_entries()
    try:
        if committed and entries and isinstance(catalog, Catalog):
            advance_after_commit(catalog, con, entries)
    finally:
        session_unlock(con, "ledger")


@dataclass
class _Ticket:
    """One caller's entries waiting for a group commit."""

    prepared: list[_Prepared]
    entries: list[Entry] | None = None
    error: BaseException | None = None
    lead: bool = False  # set when this caller must write the next batch
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Queue:
    """Appends waiting for the writer of one catalog file in this process."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    waiting: list[_Ticket] = field(default_factory=list)
    busy: bool = False  # a leader is writing


_queues: dict[Path, _Queue] = {}
_queues_guard = threading.Lock()


def _group_commit(catalog: Catalog, prepared: list[_Prepared]) -> list[Entry]:
    """Append ``prepared`` durably, sharing the commit with whoever else is appending right now.

    The first caller becomes the leader and writes everything queued when it gets the write lock, in one statement
    (one commit, one fsync); callers arriving meanwhile queue up and sleep; when the leader is done it wakes its
    batch and hands the lead to the oldest waiting caller, who writes the next batch. Every caller returns only once
    its own entries are committed. A caller interrupted while it waits (Ctrl-C) leaves the queue and passes the
    lead on, so the others never wait for a thread that is gone.
    """
    with _queues_guard:
        queue = _queues.setdefault(catalog.path, _Queue())
    ticket = _Ticket(prepared)
    with queue.lock:
        queue.waiting.append(ticket)
        ticket.lead = not queue.busy
        queue.busy = True
    try:
        if not ticket.lead:
            ticket.done.wait()
        if ticket.lead:
            catalog.write_lock.acquire()
    except BaseException:
        _leave_queue(queue, ticket)
        raise
    if ticket.lead:
        batch: list[_Ticket] = []
        try:
            with queue.lock:
                batch, queue.waiting = queue.waiting, []
            _flush(catalog, batch)
        finally:
            catalog.write_lock.release()
            for t in batch:
                if t.entries is None and t.error is None:  # interrupted before it could write them
                    t.error = RuntimeError("the ledger entries were not written: the thread writing them stopped")
            with queue.lock:
                _pass_lead(queue)
            for t in batch:
                t.done.set()
    if ticket.error is not None:
        raise ticket.error
    assert ticket.entries is not None
    return ticket.entries


def _pass_lead(queue: _Queue) -> None:
    """(queue.lock held) Wake the oldest waiting caller as the next leader, or mark the queue idle."""
    if queue.waiting:
        queue.waiting[0].lead = True
        queue.waiting[0].done.set()
    else:
        queue.busy = False


def _leave_queue(queue: _Queue, ticket: _Ticket) -> None:
    """A caller gives up before its entries were taken into a batch: drop them, and the lead if it had it."""
    with queue.lock:
        if ticket in queue.waiting:
            queue.waiting.remove(ticket)
            if ticket.lead:
                _pass_lead(queue)


def _flush(catalog: Catalog, batch: list[_Ticket]) -> None:
    """Write ``batch`` (write lock held) and give each ticket its entries, or the error that stopped them all."""
    rows = [p for t in batch for p in t.prepared]
    entries: list[Entry] | None = None
    try:
        with catalog.kept_connection() as kept:
            if kept is not None:
                # the file is kept open: the held connection, and the head from memory
                con, cache = kept
                entries = _write_chain(con, cache.get(_HEAD_KEY), rows)
                cache[_HEAD_KEY] = (entries[-1].seq, entries[-1].hash)
                advance_after_commit(catalog, con, entries)
        if kept is None:
            with catalog.connect() as con:
                entries = _write_chain(con, None, rows)
                advance_after_commit(catalog, con, entries)
            cache = catalog.kept_cache()  # kept open from now on (inside a keep_open scope)
            if cache is not None:
                cache[_HEAD_KEY] = (entries[-1].seq, entries[-1].hash)
    except BaseException as exc:  # handed on: each writer waiting on this commit gets it (or raised, below)
        if entries is None:
            for t in batch:
                t.error = exc
            return
        _deal(batch, entries)  # committed: the entries stand even though closing up failed
        if not isinstance(exc, Exception):
            raise  # Ctrl-C after the commit still stops this thread
        return
    _deal(batch, entries)


def _deal(batch: list[_Ticket], entries: list[Entry]) -> None:
    i = 0
    for t in batch:
        t.entries = entries[i : i + len(t.prepared)]
        i += len(t.prepared)


def _write_chain(con: duckdb.DuckDBPyConnection, head_: tuple[int, str] | None, rows: list[_Prepared]) -> list[Entry]:
    """Chain ``rows`` onto ``head_`` (read when None or found stale) and commit them; returns the entries."""
    if is_postgres(con):
        # many processes append at once: the head is read under an advisory lock held until the commit, so no
        # two writers ever chain onto the same head (and none has to retry)
        con.execute("BEGIN TRANSACTION")
        try:
            entries = _insert(con, rows, track=False)  # the ledger's lock is held until the caller moved the head
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            session_unlock(con, "ledger")
            raise
        return entries
    for attempt in range(3):
        if head_ is None:
            head_ = stored_head(con)
        entries = _chain(head_, rows)
        try:
            if len(rows) <= _CHUNK:
                _write(con, entries, rows)  # one statement: its own transaction, durable on return
            else:
                try:
                    con.execute("BEGIN TRANSACTION")
                    _write(con, entries, rows)
                    con.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(duckdb.Error):  # no transaction left open on a shared connection
                        con.execute("ROLLBACK")
                    raise
            return entries
        except duckdb.ConstraintException:
            # the head was behind (another writer appended since): read it again and re-chain
            if attempt == 2:
                raise
            head_ = None
    raise AssertionError("unreachable")
