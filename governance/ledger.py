"""The tamper-evident ledger: an append-only hash chain in the catalog, sealed by signed checkpoints outside it.

Every request, decision, execution step, sync and export is one entry. :func:`append` is the only code that
writes the ``ledger`` table; nothing updates or deletes its rows.

Each entry's ``hash`` is the sha256 of its own fields and of the previous entry's hash (:func:`entry_hash`), so
editing, deleting or reordering an entry breaks the chain from that entry on. Somebody who can write the database
could rewrite the whole chain, or restore an older copy of the file; a *checkpoint* catches both: the ledger length
and head hash at a moment, signed with the workspace's Ed25519 key and written as a small JSON file to
``checkpoints/``, outside the database. :func:`verify` recomputes the chain in one DuckDB query (the hashes are
independent of each other once ``prev_hash`` is stored, so no Python loop over a million rows) and compares it
with every checkpoint.

The hashed text is the fields joined by newlines, payload last; actor, action and subject may not contain
control characters, and the payload is canonical JSON (which escapes newlines), so the text is unambiguous.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.canonical import canonical_json
from core.clock import naive_utc, utcnow
from core.errors import ConfigError, InputError, LedgerTampered
from governance.catalog import Catalog
from governance.config import Settings, Workspace, private_dir, write_private
from governance.identity import Identity, require

GENESIS_HASH = "0" * 64
CHECKPOINT_FORMAT = "countersign-ledger-checkpoint/1"
HEAD_FORMAT = "countersign-ledger-head/1"
HEAD_FILE = "head.json"
_HEAD_LOCK = ".head.lock"
PRIVATE_KEY_FILE = "ledger-ed25519.pem"
PUBLIC_KEY_FILE = "ledger-ed25519.pub.pem"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"  # the same text from Python's strftime and DuckDB's strftime
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# The chain check. Row hashes do not depend on each other (prev_hash is stored), so DuckDB computes them in
# parallel in one pass; the link to the previous entry is a self-join on seq - 1, a second pass.
_HASH_SQL = f"""
    SELECT count(*), min(seq), max(seq), min(seq) FILTER (WHERE bad), count(*) FILTER (WHERE bad)
    FROM (
        SELECT seq,
               sha256(concat(seq::VARCHAR, chr(10), strftime(recorded_at, '{_TIME_FORMAT}'), chr(10), actor, chr(10),
                             action, chr(10), coalesce(subject, ''), chr(10), prev_hash, chr(10), payload)) <> hash
                   AS bad
        FROM ledger
    )
"""
_LINK_SQL = f"""
    SELECT min(seq) FILTER (WHERE bad_link), min(seq) FILTER (WHERE gap)
    FROM (
        SELECT b.seq,
               CASE WHEN b.seq = 1 THEN b.prev_hash <> '{GENESIS_HASH}'
                    ELSE a.seq IS NULL OR a.hash <> b.prev_hash END AS bad_link,
               b.seq > 1 AND a.seq IS NULL AS gap
        FROM ledger b LEFT JOIN ledger a ON a.seq = b.seq - 1
    )
"""


@dataclass(frozen=True)
class Entry:
    """One ledger entry as stored."""

    seq: int
    recorded_at: dt.datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: 'the ledger had ``length`` entries ending in ``head_hash``'."""

    length: int
    head_hash: str
    created_at: dt.datetime
    created_by: str
    key_id: str
    signature: str
    path: Path | None = None


@dataclass(frozen=True)
class Problem:
    """One thing verification found wrong; ``seq`` is the first entry concerned when it is known."""

    # edited | broken_link | missing | truncated | rewritten | bad_signature | unknown_key | bad_start
    # | missing_head | rolled_back
    kind: str
    seq: int | None
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify`."""

    length: int
    head_hash: str
    checkpoints_checked: int
    newest_checkpoint: Checkpoint | None
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...]
    seconds: float
    head: Head | None = None  # the verified signed head in checkpoints/

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        """The problem with the lowest entry number (the first place the record can no longer be trusted)."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.seq is None, p.seq or 0))

    def summary(self) -> str:
        """One line for people."""
        if self.ok:
            cp = self.newest_checkpoint
            sealed = (
                f"; matches {self.checkpoints_checked} signed checkpoint(s), newest at entry {cp.length} "
                f"({cp.created_at:%Y-%m-%d %H:%M} UTC)"
                if cp
                else "; no signed checkpoint yet (run 'countersign ledger checkpoint')"
            )
            signed = f"; signed head at entry {self.head.seq}" if self.head else ""
            return f"ledger intact: {self.length} entries, head {self.head_hash[:16]}{sealed}{signed}"
        bad = self.first_bad
        assert bad is not None
        return f"ledger TAMPERED: {bad.message}" + (
            f" (+{len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        cp = self.newest_checkpoint
        return {
            "ok": self.ok,
            "length": self.length,
            "head_hash": self.head_hash,
            "checkpoints_checked": self.checkpoints_checked,
            "newest_checkpoint": None
            if cp is None
            else {"length": cp.length, "head_hash": cp.head_hash, "created_at": cp.created_at, "path": cp.path},
            "signed_head": None if self.head is None else {
                "seq": self.head.seq, "hash": self.head.hash, "written_at": self.head.written_at, "path": self.head.path},
            "first_bad_seq": self.first_bad.seq if self.first_bad else None,
            "problems": [{"kind": p.kind, "seq": p.seq, "message": p.message} for p in self.problems],
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 4),
        }


# -- the chain ---------------------------------------------------------------------------------------------


def entry_hash(
    seq: int, recorded_at: dt.datetime, actor: str, action: str, subject: str, prev_hash: str, payload: str
) -> str:
    """The hash of one entry: sha256 over its fields joined by newlines (payload text last)."""
    text = "\n".join((str(seq), recorded_at.strftime(_TIME_FORMAT), actor, action, subject, prev_hash, payload))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


_CHUNK = 256  # rows per INSERT statement (DuckDB binds 8 parameters per row)
_HEAD_KEY = "ledger.head"


def _read_head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    row = con.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


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


def _insert(con: duckdb.DuckDBPyConnection, prepared: Sequence[_Prepared]) -> list[Entry]:
    """Append inside the caller's transaction (the caller's :func:`advance_head` or :func:`seal` signs the head)."""
    entries = _chain(_read_head(con), prepared)
    _write(con, entries, prepared)
    if entries[0].seq == 1:  # the ledger's first entry: the signed head of this file may start from nothing
        row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
        if row and row[0]:
            with _keys_guard:
                _may_start.add(str(Path(row[0]).resolve()))
    return entries


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
                _advance_after_commit(catalog, con, entries)
        if kept is None:
            with catalog.connect() as con:
                entries = _write_chain(con, None, rows)
                _advance_after_commit(catalog, con, entries)
            cache = catalog.kept_cache()  # kept open from now on (inside a keep_open scope)
            if cache is not None:
                cache[_HEAD_KEY] = (entries[-1].seq, entries[-1].hash)
    except BaseException as exc:
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
    for attempt in range(3):
        if head_ is None:
            head_ = _read_head(con)
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


def head(catalog: Catalog) -> tuple[int, str]:
    """The ledger's length and head hash (``0, GENESIS_HASH`` when empty)."""
    with catalog.connect() as con:
        return _read_head(con)


def _entry(row: Sequence[Any]) -> Entry:
    seq, at, actor, action, subject, payload, prev, digest = row
    return Entry(seq, at, actor, action, subject or "", json.loads(payload), prev, digest)


def entries_for(catalog: Catalog, subject: str) -> list[Entry]:
    """Every entry about ``subject`` (e.g. ``request:R-…``), oldest first."""
    with catalog.connect() as con:
        rows = con.execute(
            "SELECT seq, recorded_at, actor, action, subject, payload, prev_hash, hash FROM ledger "
            "WHERE subject = ? ORDER BY seq",
            [subject],
        ).fetchall()
    return [_entry(r) for r in rows]


def entry(catalog: Catalog, seq: int) -> Entry:
    """The entry number ``seq``."""
    with catalog.connect() as con:
        row = con.execute(
            "SELECT seq, recorded_at, actor, action, subject, payload, prev_hash, hash FROM ledger WHERE seq = ?",
            [seq],
        ).fetchone()
    if row is None:
        from core.errors import NotFound

        raise NotFound(f"the ledger has no entry {seq}")
    return _entry(row)


@dataclass(frozen=True)
class LedgerFilter:
    """Filters of the ledger listing; empty values mean 'any'."""

    actions: tuple[str, ...] = ()
    actor: str = ""
    subject: str = ""
    text: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def listing(catalog: Catalog, flt: LedgerFilter = LedgerFilter(), *, limit: int = 500) -> pd.DataFrame:
    """Ledger entries matching ``flt``, newest first, at most ``limit`` rows."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if flt.actions:
        where.append("action IN (SELECT unnest(?))")
        params.append(list(flt.actions))
    for column, value in (("actor", flt.actor), ("subject", flt.subject)):
        if value.strip():
            where.append(f"{column} ILIKE ?")
            params.append(f"%{value.strip()}%")
    if flt.text.strip():
        where.append("payload ILIKE ?")
        params.append(f"%{flt.text.strip()}%")
    if flt.since:
        where.append("recorded_at >= ?")
        params.append(flt.since)
    if flt.until:
        where.append("recorded_at < ?")
        params.append(flt.until)
    return catalog.query_df(
        f"SELECT seq, recorded_at, actor, action, subject, payload, hash FROM ledger WHERE {' AND '.join(where)} "
        "ORDER BY seq DESC LIMIT ?",
        [*params, int(limit)],
    )


def actions(catalog: Catalog) -> list[str]:
    """The distinct actions in the ledger, for filters."""
    with catalog.connect() as con:
        return [r[0] for r in con.execute("SELECT DISTINCT action FROM ledger ORDER BY 1").fetchall()]


# -- keys and checkpoints --------------------------------------------------------------------------------------


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (sha256 of its raw bytes, 16 hex digits)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _signing_key(workspace: Workspace) -> Ed25519PrivateKey:
    """The workspace's checkpoint key, created on first use (private key readable by the owner only)."""
    private = workspace.keys_dir / PRIVATE_KEY_FILE
    public = workspace.keys_dir / PUBLIC_KEY_FILE
    if not private.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        staged = write_private(private.with_name(f".{private.name}.{os.getpid()}.{threading.get_ident()}"), pem)
        try:
            os.link(staged, private)  # appears complete or not at all; a concurrent creator's key wins
            write_private(public, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))
            return key
        except FileExistsError:
            pass
        finally:
            staged.unlink(missing_ok=True)
    try:
        key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    except ValueError as exc:
        raise ConfigError(f"{private}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{private}: the ledger key must be Ed25519, found {type(key).__name__}")
    return key


_keys: dict[Path, tuple[tuple[int, int, int], Ed25519PrivateKey, str]] = {}
_keys_guard = threading.Lock()
_may_start: set[str] = set()  # catalog files whose first entry was written inside a caller's transaction


def _cached_key(workspace: Workspace) -> tuple[Ed25519PrivateKey, str]:
    """The signing key and its id, parsed once per process while the key file stays the same."""
    path = workspace.keys_dir / PRIVATE_KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        st = path.stat()
        hit = _keys.get(path)
        if hit is not None and hit[0] == (st.st_mtime_ns, st.st_size, st.st_ino):
            return hit[1], hit[2]
    key = _signing_key(workspace)
    st = path.stat()
    kid = key_id(key.public_key())
    with _keys_guard:
        _keys[path] = ((st.st_mtime_ns, st.st_size, st.st_ino), key, kid)
    return key, kid


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the ledger public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: the ledger key must be Ed25519, found {type(key).__name__}")
    return key


def _signed_text(length: int, head_hash: str, created_at: dt.datetime, created_by: str, kid: str) -> bytes:
    return canonical_json(
        {"format": CHECKPOINT_FORMAT, "length": length, "head_hash": head_hash,
         "created_at": created_at.strftime(_TIME_FORMAT), "created_by": created_by, "key_id": kid}
    ).encode()


def seal(workspace: Workspace, catalog: Catalog, *, by: str, start_head: bool = False) -> Checkpoint:
    """Sign the current head and write it to ``checkpoints/``; called after an authorised write (no role check).

    It also advances the signed head (``checkpoints/head.json``) over entries the caller appended inside its own
    transaction; ``start_head`` creates that head when it is missing (an explicit checkpoint).
    """
    key, kid = _cached_key(workspace)
    length, head_hash = head(catalog)
    _refuse_unless_extending(workspace, catalog, key.public_key(), length)
    created = utcnow()
    signature = base64.b64encode(key.sign(_signed_text(length, head_hash, created, by, kid))).decode()
    doc = {
        "format": CHECKPOINT_FORMAT, "length": length, "head_hash": head_hash,
        "created_at": created.strftime(_TIME_FORMAT), "created_by": by, "key_id": kid, "signature": signature,
    }
    path = private_dir(workspace.checkpoints_dir) / f"ledger-{length:012d}-{created:%Y%m%dT%H%M%S%f}.json"
    write_private(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())  # atomic, owner-only
    advance_head(catalog, workspace, start=start_head)
    return Checkpoint(length, head_hash, created, by, kid, signature, path)


def _refuse_unless_extending(workspace: Workspace, catalog: Catalog, public: Ed25519PublicKey, length: int) -> None:
    """Never sign a chain that does not extend the newest checkpoint: that would vouch for a rewrite or rollback."""
    folder = workspace.checkpoints_dir
    names = sorted(folder.glob("ledger-*.json")) if folder.is_dir() else []
    if not names:
        return
    newest = names[-1]  # names sort by length, then time
    try:
        doc = json.loads(newest.read_text(encoding="utf-8"))
        cp_length, cp_hash = int(doc["length"]), str(doc["head_hash"])
        public.verify(base64.b64decode(doc["signature"]), _signed_text(
            cp_length, cp_hash, dt.datetime.strptime(doc["created_at"], _TIME_FORMAT), str(doc["created_by"]),
            str(doc["key_id"])))
    except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
        raise LedgerTampered(f"refusing to sign a checkpoint: the newest one, {newest.name}, does not verify "
                             f"({type(exc).__name__}); run 'countersign ledger verify'") from None
    if cp_length == 0:
        return
    with catalog.connect() as con:
        row = con.execute("SELECT hash FROM ledger WHERE seq = ?", [cp_length]).fetchone()
    if cp_length > length or row is None or row[0] != cp_hash:
        raise LedgerTampered(f"refusing to sign a checkpoint: the ledger ({length} entries) no longer extends "
                             f"{newest.name} ({cp_length} entries); run 'countersign ledger verify'")


def checkpoint(workspace: Workspace, catalog: Catalog, actor: Identity) -> Checkpoint:
    """Sign and store the current head on demand (``countersign ledger checkpoint``)."""
    require(actor, "checkpoint")
    # The request is an entry too, and the checkpoint seals it, so the ledger shows who sealed when.
    append(catalog, actor=actor.email, action="ledger.checkpoint", subject="ledger", payload={"on_demand": True})
    return seal(workspace, catalog, by=actor.email, start_head=True)


# -- the signed head ------------------------------------------------------------------------------------------
#
# Checkpoints follow decisions; the head follows every commit. ``checkpoints/head.json`` holds the newest entry's
# number and hash, signed with the same key, rewritten after each commit while the writer still holds the catalog
# (so no other process commits in between) and under a lock file (so no writer of this process moves it back).
# It moves only forward and only along the chain it signed before: a commit onto a rolled-back or rewritten ledger
# leaves it where it was, for ``verify`` to report. A *witness* folder outside the workspace ([ledger] witness)
# receives the same document, so restoring catalog.duckdb together with checkpoints/ is caught too.


@dataclass(frozen=True)
class Head:
    """The signed high-water mark: 'the ledger had entry ``seq`` with hash ``hash``' (written after every commit)."""

    seq: int
    hash: str
    written_at: dt.datetime
    key_id: str
    signature: str
    path: Path | None = None


_log = logging.getLogger(__name__)
_witnesses: dict[str, Path] = {}


def _head_text(seq: int, digest: str, written_at: dt.datetime, kid: str) -> bytes:
    return canonical_json({"format": HEAD_FORMAT, "seq": seq, "hash": digest,
                           "written_at": written_at.strftime(_TIME_FORMAT), "key_id": kid}).encode()


def use_witness(workspace: Workspace, directory: Path | None) -> None:
    """Mirror the signed head of ``workspace`` into ``directory`` on every commit of this process (None: stop).

    Called at the edge (CLI, portal) with ``[ledger] witness``; one witness folder serves one workspace.
    """
    key = str(workspace.catalog_path.resolve())
    if directory is None:
        _witnesses.pop(key, None)
    else:
        _witnesses[key] = Path(directory)


def use_settings(workspace: Workspace, settings: Settings) -> None:
    """Register ``[ledger] witness`` of ``settings`` (relative paths from the workspace folder) for this process."""
    if settings.ledger.witness:
        use_witness(workspace, workspace.root / Path(settings.ledger.witness).expanduser())


def witness_of(workspace: Workspace) -> Path | None:
    """The witness folder registered for ``workspace`` in this process, if any."""
    if not _witnesses:
        return None
    return _witnesses.get(str(workspace.catalog_path.resolve()))


def _workspace_of(catalog: Catalog) -> Workspace | None:
    """The workspace a catalog file belongs to (None for a catalog outside the workspace layout)."""
    ws = Workspace(catalog.path.parent)
    return ws if catalog.path.name == ws.catalog_path.name else None


@contextlib.contextmanager
def _head_lock(folder: Path, *, shared: bool = False) -> Iterator[None]:
    """A lock over the head file of ``folder``, across threads and processes (released when the file closes).

    Writers take it exclusively (created 0600 if absent); readers share it when it exists and do without it when
    they may not create it (a read-only copy).
    """
    path = folder / _HEAD_LOCK
    try:
        fd = os.open(path, os.O_RDONLY) if shared else os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        if not shared:
            raise
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_head(path: Path) -> Head | None:
    """The head document at ``path`` (a file, or a folder holding ``head.json``), unverified; None when absent."""
    if path.is_dir():
        path = path / HEAD_FILE
    with _head_lock(path.parent, shared=True):
        return _parse_head(path)


def _parse_head(path: Path) -> Head | None:
    """(lock held) The head document at ``path``; None when absent, ValueError when unreadable."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a signed ledger head ({exc})") from None
    try:
        doc = json.loads(text)
        if doc.get("format") != HEAD_FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        return Head(int(doc["seq"]), str(doc["hash"]), dt.datetime.strptime(doc["written_at"], _TIME_FORMAT),
                    str(doc["key_id"]), str(doc["signature"]), path)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a signed ledger head ({exc})") from None


_HEAD_SIZE = 1024  # the head is rewritten in place as one fixed-size record (JSON padded with spaces)


def _write_head(path: Path, doc: bytes) -> None:
    """(lock held) Overwrite the head record in place, owner-only.

    Not write-and-rename: on ext4 a rename over an existing file flushes the new file's data (auto_da_alloc),
    which costs ~1.6 ms here, as much as the commit itself; one ``pwrite`` of a single record costs microseconds.
    Readers take the shared lock, so they never see half a record.
    """
    if len(doc) > _HEAD_SIZE:
        raise ValueError(f"ledger head record larger than {_HEAD_SIZE} bytes")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, doc.ljust(_HEAD_SIZE, b" "), 0)
        if os.fstat(fd).st_size > _HEAD_SIZE:
            os.ftruncate(fd, _HEAD_SIZE)
    finally:
        os.close(fd)


def _store_head(workspace: Workspace, seq: int, digest: str, extends: Callable[[int, str], bool], *,
                may_start: bool) -> Head | None:
    """Sign (``seq``, ``digest``) into checkpoints/ and the witness, never backwards and never onto a fork.

    ``extends(seq, hash)`` says whether the ledger still has that hash at that entry. A missing head in
    checkpoints/ is started only when ``may_start`` (the ledger's first commit, or an explicit checkpoint): else
    deleting head.json with the newest entries would simply start a new one.
    """
    folder = private_dir(workspace.checkpoints_dir)
    targets = [folder]
    witness = witness_of(workspace)
    if witness is not None:
        targets.append(private_dir(witness))
    written: Head | None = None
    doc: bytes | None = None
    with contextlib.ExitStack() as locks:
        for target in targets:  # always checkpoints/ first, then the witness: one order, no deadlock
            locks.enter_context(_head_lock(target))
        for target in targets:
            path = target / HEAD_FILE
            try:
                current = _parse_head(path)
            except ValueError as exc:
                if not may_start:  # an explicit checkpoint replaces a head a crash left unreadable
                    _log.warning("ledger head not advanced: %s; run 'countersign ledger verify'", exc)
                    continue
                current = None
            if current is None and target == folder and not may_start:
                _log.warning("ledger head not advanced: %s is missing; run 'countersign ledger verify'", path)
                continue
            if current is not None:
                if current.seq >= seq:
                    continue  # someone already signed this far: the head never moves back
                if not extends(current.seq, current.hash):
                    _log.warning("ledger head not advanced: the ledger no longer extends %s (entry %d); run "
                                 "'countersign ledger verify'", path, current.seq)
                    continue
            if doc is None:
                key, kid = _cached_key(workspace)
                at = utcnow()
                signature = base64.b64encode(key.sign(_head_text(seq, digest, at, kid))).decode()
                written = Head(seq, digest, at, kid, signature, folder / HEAD_FILE)
                doc = (json.dumps({"format": HEAD_FORMAT, "seq": seq, "hash": digest,
                                   "written_at": at.strftime(_TIME_FORMAT), "key_id": kid, "signature": signature},
                                  indent=2, sort_keys=True) + "\n").encode()
            _write_head(path, doc)
    return written



def _hash_at(con: duckdb.DuckDBPyConnection, seq: int) -> str | None:
    if seq == 0:
        return GENESIS_HASH
    row = con.execute("SELECT hash FROM ledger WHERE seq = ?", [seq]).fetchone()
    return row[0] if row else None


def _advance_after_commit(catalog: Catalog, con: duckdb.DuckDBPyConnection, entries: list[Entry]) -> None:
    """(write lock and connection held, entries committed) Move the signed head to the newest of ``entries``."""
    workspace = _workspace_of(catalog)
    if workspace is None:
        return
    first, last = entries[0], entries[-1]

    def extends(seq: int, digest: str) -> bool:
        if seq >= first.seq:
            return entries[seq - first.seq].hash == digest
        if seq == first.seq - 1:
            return first.prev_hash == digest
        return _hash_at(con, seq) == digest

    try:
        _store_head(workspace, last.seq, last.hash, extends,
                    may_start=first.seq == 1 or _started(catalog))
    except (OSError, ConfigError) as exc:  # the entries stand; verify reports the head lagging behind them
        _log.warning("ledger head not advanced after entry %d: %s", last.seq, exc)


def _started(catalog: Catalog) -> bool:
    """Whether this process wrote the ledger's first entry inside a transaction (consumes the mark)."""
    if not _may_start:
        return False
    key = str(catalog.path.resolve())
    with _keys_guard:
        if key in _may_start:
            _may_start.discard(key)
            return True
    return False


def advance_head(catalog: Catalog, workspace: Workspace | None = None, *, start: bool = False) -> Head | None:
    """Sign the ledger's current head; callers that appended inside their own transaction call it after COMMIT.

    Appends given a :class:`Catalog` advance the head themselves. ``start`` creates a missing head over an existing
    ledger (an explicit checkpoint does; ordinary writes do not, see :func:`_store_head`).
    """
    workspace = workspace or _workspace_of(catalog)
    if workspace is None:
        return None
    with catalog.connect() as con:  # held while the head is written: no other process commits in between
        seq, digest = _read_head(con)
        if seq == 0:
            return None
        try:
            return _store_head(workspace, seq, digest, lambda s, h: _hash_at(con, s) == h,
                               may_start=start or _started(catalog))
        except OSError as exc:  # the entries stand; verify reports the head lagging behind them
            _log.warning("ledger head not advanced to entry %d: %s", seq, exc)
            return None



def read_checkpoints(workspace: Workspace) -> tuple[list[Checkpoint], list[Problem]]:
    """Every checkpoint file, parsed, oldest first; files that cannot be parsed come back as problems."""
    out: list[Checkpoint] = []
    problems: list[Problem] = []
    folder = workspace.checkpoints_dir
    if not folder.is_dir():
        return out, problems
    for path in sorted(folder.glob("ledger-*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            out.append(Checkpoint(int(doc["length"]), str(doc["head_hash"]),
                                  dt.datetime.strptime(doc["created_at"], _TIME_FORMAT), str(doc["created_by"]),
                                  str(doc["key_id"]), str(doc["signature"]), path))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            problems.append(Problem("bad_signature", None, f"checkpoint {path.name} is unreadable ({exc})"))
    out.sort(key=lambda c: (c.length, c.created_at))
    return out, problems


def verify(workspace: Workspace, catalog: Catalog, actor: Identity, *,
           public_key: Path | None = None, witness: Path | None = None) -> VerifyReport:
    """Recompute the chain and compare it with every signed checkpoint and the signed head (``ledger verify``).

    ``public_key`` pins the key checkpoints must be signed with (default: the workspace's own public key file);
    ``witness`` is a copy of the head kept elsewhere (a ``head.json`` or its folder; default: the registered
    ``[ledger] witness``).
    """
    require(actor, "verify_ledger")
    return verify_unchecked(workspace, catalog, public_key=public_key, witness=witness)


def verify_unchecked(workspace: Workspace, catalog: Catalog, *, public_key: Path | None = None,
                     witness: Path | None = None) -> VerifyReport:
    """:func:`verify` without the role check, for benchmarks and internal callers that already checked."""
    started = time.perf_counter()
    problems: list[Problem] = []
    warnings: list[str] = []
    with catalog.connect() as con:
        count, low, high, bad_hash, n_bad_hash = con.execute(_HASH_SQL).fetchone()
        bad_link, gap = con.execute(_LINK_SQL).fetchone()
        head_row = con.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()

        def describe(seq: int) -> str:
            row = con.execute("SELECT action, actor, recorded_at FROM ledger WHERE seq = ?", [seq]).fetchone()
            return f"entry {seq} ({row[0]} by {row[1]} at {row[2]:%Y-%m-%d %H:%M:%S})" if row else f"entry {seq}"

        if count and low != 1:
            problems.append(Problem("missing", 1, f"entries 1..{low - 1} are missing: the start was deleted"))
        if bad_hash is not None:
            problems.append(Problem("edited", bad_hash, f"{describe(bad_hash)}: stored hash does not match its "
                                    f"content — the entry was edited ({n_bad_hash} entr{'y' if n_bad_hash == 1 else 'ies'} "
                                    "affected)"))
        if gap is not None:
            problems.append(Problem("missing", gap - 1, f"entry {gap - 1} is missing: deleted from the ledger"))
        elif bad_link is not None:
            problems.append(Problem("broken_link", bad_link, f"{describe(bad_link)} does not follow entry "
                                    f"{bad_link - 1}: entries were deleted, inserted or reordered"))
        length = int(high or 0)
        head_hash = head_row[1] if head_row else GENESIS_HASH

        checkpoints, cp_problems = read_checkpoints(workspace)
        problems.extend(cp_problems)
        heads, head_problems, head_warnings = _read_heads(workspace, witness, count)
        problems.extend(head_problems)
        warnings.extend(head_warnings)
        valid: list[Checkpoint] = []
        valid_heads: list[Head] = []
        labelled: list[tuple[str, Head]] = []
        pub: Ed25519PublicKey | None = None
        if checkpoints or heads:
            key_path = public_key or workspace.keys_dir / PUBLIC_KEY_FILE
            if not key_path.exists():
                problems.append(Problem("unknown_key", None, f"{len(checkpoints)} checkpoint(s) and {len(heads)} "
                                        f"signed head(s) exist but the public key {key_path} is missing: their "
                                        "signatures cannot be checked"))
            else:
                pub = load_public_key(key_path)
        if pub is not None:
            kid = key_id(pub)
            for cp in checkpoints:
                if cp.key_id != kid:
                    problems.append(Problem("unknown_key", None, f"checkpoint {cp.path.name if cp.path else ''} "
                                            f"was signed by key {cp.key_id}, not the trusted key {kid}"))
                    continue
                try:
                    pub.verify(base64.b64decode(cp.signature),
                               _signed_text(cp.length, cp.head_hash, cp.created_at, cp.created_by, cp.key_id))
                except (InvalidSignature, ValueError):
                    problems.append(Problem("bad_signature", None, f"checkpoint {cp.path.name if cp.path else ''} "
                                            "has an invalid signature: it was altered"))
                    continue
                valid.append(cp)
            for _, h in heads:
                try:
                    if h.key_id != kid:
                        raise InvalidSignature
                    pub.verify(base64.b64decode(h.signature), _head_text(h.seq, h.hash, h.written_at, h.key_id))
                except (InvalidSignature, ValueError):
                    problems.append(Problem("bad_signature", None, f"the signed head {h.path} does not verify with "
                                            f"the trusted key {kid}: it was altered or forged"))
                    continue
                valid_heads.append(h)
        labelled = [(label, h) for label, h in heads if h in valid_heads]
        if not checkpoints:
            warnings.append("no signed checkpoint: a rewrite of the whole chain or a rollback would go unnoticed")

        newest = valid[-1] if valid else None
        if newest is not None and newest.length > length:
            problems.append(Problem(
                "truncated", length + 1,
                f"the ledger ends at entry {length} but a checkpoint signed at {newest.created_at:%Y-%m-%d %H:%M:%S} "
                f"by {newest.created_by} covers {newest.length} entries: entries {length + 1}..{newest.length} were "
                "removed, or the database was rolled back to an older copy",
            ))
        good_below = 0
        if valid:
            lengths = sorted({cp.length for cp in valid if 0 < cp.length <= length})
            stored = dict(
                con.execute("SELECT seq, hash FROM ledger WHERE seq IN (SELECT unnest(?))", [lengths]).fetchall()
            ) if lengths else {}
            for cp in valid:
                if cp.length == 0 or cp.length > length:
                    continue
                if stored.get(cp.length) != cp.head_hash:
                    problems.append(Problem(
                        "rewritten", good_below + 1,
                        f"entry {cp.length} no longer has the hash signed in checkpoint "
                        f"{cp.path.name if cp.path else ''}: the chain was rewritten after entry {good_below} "
                        f"(the last entry a checkpoint still vouches for)",
                    ))
                    break
                good_below = cp.length
        # a checkpoint that already found the tail cut or the chain rewritten says it first; the head adds the rest
        seen = {p.kind for p in problems}
        problems.extend(p for p in _check_heads(con, labelled, length, good_below)
                        if p.kind not in seen or p.kind == "rolled_back")
        signed_head = next((h for label, h in labelled if label == "signed head"), None)
        if signed_head is not None and signed_head.seq < length:
            warnings.append(f"entries {signed_head.seq + 1}..{length} are newer than the signed head: written inside "
                            "a transaction whose seal has not run yet, or just before a crash")
    return VerifyReport(length, head_hash, len(valid), newest, tuple(problems), tuple(warnings),
                        time.perf_counter() - started, signed_head)


def _read_heads(workspace: Workspace, witness: Path | None,
                count: int) -> tuple[list[tuple[str, Head]], list[Problem], list[str]]:
    """The signed head in checkpoints/ and the witness's copy (unverified), with what is wrong or missing."""
    heads: list[tuple[str, Head]] = []
    problems: list[Problem] = []
    warnings: list[str] = []
    local_path = workspace.checkpoints_dir / HEAD_FILE
    try:
        local = read_head(local_path)
    except ValueError as exc:
        problems.append(Problem("bad_signature", None, f"{exc}: the signed head was altered"))
    else:
        if local is not None:
            heads.append(("signed head", local))
        elif count:
            problems.append(Problem(
                "missing_head", None,
                f"{local_path} is missing although the ledger has {count} entries: the signed head was deleted, "
                "perhaps with the newest entries (a workspace older than signed heads needs one "
                "'countersign ledger checkpoint' to start it)"))
    target = witness if witness is not None else witness_of(workspace)
    if target is None:
        warnings.append("no witness of the signed head outside the workspace ([ledger] witness, or --witness): "
                        "restoring catalog.duckdb together with checkpoints/ from an older copy would go unnoticed")
        return heads, problems, warnings
    try:
        copy = read_head(target)
    except ValueError as exc:
        problems.append(Problem("bad_signature", None, f"witness {exc}: it was altered"))
        return heads, problems, warnings
    if copy is None:
        warnings.append(f"the witness {target} holds no signed head yet")
    else:
        heads.append(("witness", copy))
    return heads, problems, warnings


def _check_heads(con: duckdb.DuckDBPyConnection, heads: list[tuple[str, Head]], length: int,
                 good_below: int) -> list[Problem]:
    """Compare verified heads with the ledger, and the workspace's head with the witness."""
    problems: list[Problem] = []
    for label, h in heads:
        if h.seq > length:
            problems.append(Problem(
                "truncated", length + 1,
                f"the ledger ends at entry {length} but the {label} {h.path}, signed at "
                f"{h.written_at:%Y-%m-%d %H:%M:%S}, records entry {h.seq}: entries {length + 1}..{h.seq} were "
                "removed, or the database was restored from an older copy"))
        elif h.seq > 0 and _hash_at(con, h.seq) != h.hash:
            problems.append(Problem(
                "rewritten", min(good_below, h.seq - 1) + 1,
                f"entry {h.seq} no longer has the hash recorded in the {label} {h.path}: the chain was rewritten "
                "or the database was restored from an older copy and written to since"))
    by_label = dict(heads)
    local, copy = by_label.get("signed head"), by_label.get("witness")
    if local is not None and copy is not None and copy.seq > local.seq:
        problems.append(Problem(
            "rolled_back", local.seq + 1,
            f"the signed head in checkpoints/ (entry {local.seq}) is older than the witness {copy.path} "
            f"(entry {copy.seq}): the workspace was restored from an older copy (database and checkpoints together)"))
    return problems


def verify_or_raise(workspace: Workspace, catalog: Catalog, actor: Identity) -> VerifyReport:
    """:func:`verify`, raising :class:`LedgerTampered` with the first bad entry when it fails."""
    report = verify(workspace, catalog, actor)
    if not report.ok:
        raise LedgerTampered(report.summary())
    return report
