"""The signed head.

Checkpoints follow decisions; the head follows every commit. ``checkpoints/head.json`` holds the newest entry's
number and hash, signed with the same key, rewritten after each commit while the writer still holds the catalog
(so no other process commits in between) and under a lock file (so no writer of this process moves it back).
It moves only forward and only along the chain it signed before: a commit onto a rolled-back or rewritten ledger
leaves it where it was, for ``verify`` to report. A *witness* folder outside the workspace ([ledger] witness)
receives the same document, so restoring catalog.duckdb together with checkpoints/ is caught too.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core.canonical import canonical_json
from core.clock import utcnow
from core.errors import ConfigError
from governance.catalog import Catalog
from governance.config import Workspace, open_private, private_dir
from governance.ledger.chain import TIME_FORMAT, Entry, hash_at, stored_head
from governance.ledger.keys import cached_key
from governance.ledger.witness import witness_of

HEAD_FORMAT = "countersign-ledger-head/1"
HEAD_FILE = "head.json"
_HEAD_LOCK = ".head.lock"
_may_start: set[str] = set()  # catalog files whose first entry was written inside a caller's transaction
_start_guard = threading.Lock()


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


def head_text(seq: int, digest: str, written_at: dt.datetime, kid: str) -> bytes:
    return canonical_json({"format": HEAD_FORMAT, "seq": seq, "hash": digest,
                           "written_at": written_at.strftime(TIME_FORMAT), "key_id": kid}).encode()


@contextlib.contextmanager
def _head_lock(folder: Path, *, shared: bool = False) -> Iterator[None]:
    """A lock over the head file of ``folder``, across threads and processes (released when the file closes).

    Writers take it exclusively (created 0600 if absent); readers share it when it exists and do without it when
    they may not create it (a read-only copy).
    """
    path = folder / _HEAD_LOCK
    try:
        fd = os.open(path, os.O_RDONLY) if shared else open_private(path, os.O_RDWR)
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
        return Head(int(doc["seq"]), str(doc["hash"]), dt.datetime.strptime(doc["written_at"], TIME_FORMAT),
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
    fd = open_private(path, os.O_WRONLY)
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
                    _log.warning("ledger head not advanced: entries after %s (entry %d) were not sealed by a "
                                 "Countersign commit, or the ledger no longer extends it; run 'countersign ledger "
                                 "verify'", path, current.seq)
                    continue
            if doc is None:
                key, kid = cached_key(workspace)
                at = utcnow()
                signature = base64.b64encode(key.sign(head_text(seq, digest, at, kid))).decode()
                written = Head(seq, digest, at, kid, signature, folder / HEAD_FILE)
                doc = (json.dumps({"format": HEAD_FORMAT, "seq": seq, "hash": digest,
                                   "written_at": at.strftime(TIME_FORMAT), "key_id": kid, "signature": signature},
                                  indent=2, sort_keys=True) + "\n").encode()
            _write_head(path, doc)
    return written




def advance_after_commit(catalog: Catalog, con: duckdb.DuckDBPyConnection, entries: list[Entry]) -> None:
    """(write lock and connection held, entries committed) Move the signed head to the newest of ``entries``."""
    workspace = catalog.workspace
    if workspace is None:
        return
    first, last = entries[0], entries[-1]

    def extends(seq: int, digest: str) -> bool:
        if seq >= first.seq:
            return entries[seq - first.seq].hash == digest
        # only onto the head itself: entries between the head and this commit were sealed by no Countersign commit
        # (written outside it, or before a crash), and moving over them would launder them
        return seq == first.seq - 1 and first.prev_hash == digest

    try:
        _store_head(workspace, last.seq, last.hash, extends,
                    may_start=first.seq == 1 or _started(catalog))
    except (OSError, ConfigError) as exc:  # the entries stand; verify reports the head lagging behind them
        _log.warning("ledger head not advanced after entry %d: %s", last.seq, exc)


def mark_start(catalog_file: Path) -> None:
    """Note that this process wrote the first entry of ``catalog_file`` inside a caller's transaction.

    The caller's :func:`advance_head` may then start the signed head of that file from nothing.
    """
    with _start_guard:
        _may_start.add(str(catalog_file.resolve()))


def _started(catalog: Catalog) -> bool:
    """Whether this process wrote the ledger's first entry inside a transaction (consumes the mark)."""
    if not _may_start:
        return False
    key = str(catalog.path.resolve())
    with _start_guard:
        if key in _may_start:
            _may_start.discard(key)
            return True
    return False


def advance_head(catalog: Catalog, workspace: Workspace | None = None, *, accept_unsealed: bool = False) -> Head | None:
    """Sign the ledger's newest entry as the head over entries no Countersign commit sealed: only on an operator's
    explicit, recorded acceptance (``countersign ledger checkpoint --accept-unsealed``), which may also start a
    missing head. Every commit moves the head over its own entries by itself; without ``accept_unsealed`` this
    moves nothing that a commit did not already seal.
    """
    workspace = workspace or catalog.workspace
    if workspace is None:
        return None
    with catalog.connect() as con:  # held while the head is written: no other process commits in between
        seq, digest = stored_head(con)
        if seq == 0:
            return None

        def extends(s: int, h: str) -> bool:
            # the chain must still hold the old head (never sign over a rewrite or a rollback)
            return hash_at(con, s) == h and (accept_unsealed or s == seq)

        try:
            return _store_head(workspace, seq, digest, extends, may_start=accept_unsealed or _started(catalog))
        except OSError as exc:  # the entries stand; verify reports the head lagging behind them
            _log.warning("ledger head not advanced to entry %d: %s", seq, exc)
            return None
