"""The catalog file and its connections: short-lived, retried while another process holds the lock.

DuckDB lets one process at a time open a file. The portal and ``countersign sync`` are separate processes, so
nobody keeps the file open: every operation opens a short-lived connection, does its work in one transaction
and closes it. Opening retries with back-off while another process holds the lock (``busy_timeout`` seconds),
then raises :class:`CatalogBusy`. Slow work (calling AWS, computing drift) happens with the file closed.
Within one process every connection is a cursor of one DuckDB instance, so threads are safe.

A process builds one DuckDB database instance (in memory, ~11 ms: DuckDB registers its built-in functions in every
instance) and ``ATTACH``es catalog files to it: opening a file so costs ~4 ms instead of ~15 ms, and ``DETACH``
checkpoints it and releases DuckDB's lock as closing an instance of its own did. A connection opened while the file is
attached (another thread's operation, or a :meth:`CatalogConnection.keep_open` scope) costs about 20 µs. A burst of
work (a sync, a CLI command, a run of ledger appends) runs inside ``keep_open``, which keeps the file attached between
its operations and releases it once it has been idle for ``linger`` seconds, so other processes still get their turn.

Processes take turns through a gate of their own as well: an ``flock`` on ``<catalog>.lock`` that a process holds
from before it attaches the file until after it has detached it (DuckDB checkpoints and writes the file while
detaching). DuckDB's own lock is a POSIX record lock, which a process loses when it closes *any*
descriptor of the file and which DuckDB releases inside its shutdown; several writer processes appending without
pause then lost an entry or read a file another was still truncating (``Could not read enough bytes``). Waiting on the
gate also replaces polling DuckDB's lock with back-off, so processes take turns several times faster.

With a ``url`` (``[catalog] url = "postgresql://..."``) the same methods run on PostgreSQL instead, through the
adapter of :mod:`governance.catalog.postgres`: ``connect`` lends a pooled connection, ``transaction`` is BEGIN …
COMMIT on it, and there is no file to keep open or head to cache (other processes write meanwhile).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import duckdb

from core.errors import CatalogBusy, InputError
from governance.catalog.records import table_columns
from governance.config import Workspace

if TYPE_CHECKING:
    import pandas as pd

    from core import workers
    from governance.catalog.postgres import PgBackend

_LOCK_MARKERS = ("could not set lock", "conflicting lock", "database is locked", "lock on file")

TransactionEndHook = Callable[["CatalogConnection", Any, bool], None]
"""``hook(catalog, con, committed)``, run after every :meth:`CatalogConnection.transaction` ends."""
_END_HOOKS: list[TransactionEndHook] = []


def on_transaction_end(hook: TransactionEndHook) -> TransactionEndHook:
    """Register ``hook`` to run after each catalog transaction ends, the file and write lock still held (once)."""
    if hook not in _END_HOOKS:
        _END_HOOKS.append(hook)
    return hook


class _Gate:
    """Per catalog file in this process: the ``flock`` on ``<catalog>.lock``, held while the file is attached.

    :class:`_Attached` takes it before attaching the file (other processes hold it while they have the file) and
    releases it after detaching; it counts the users, under its own lock. Without write access to the folder (a
    read-only copy of a workspace) there is no gate and DuckDB's own lock is all there is.
    """

    def __init__(self, path: str) -> None:
        self.path = path + ".lock"
        self.fd: int | None = None

    def enter(self, deadline: float, catalog: str) -> None:
        self.fd = self._take(deadline, catalog)

    def _take(self, deadline: float, catalog: str) -> int | None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            return None
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise CatalogBusy(
                        f"{catalog}: the catalog stayed in use by another process for longer than allowed "
                        "(busy_timeout). Wait for it to finish and try again."
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.02)

    def leave(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


# DuckDB's worker threads for one catalog query. The catalog answers many small queries (a page run makes dozens, a
# listing six): waking workers cost more CPU than they save at these sizes. Measured on 2 cores: `models --json`
# 0.32 -> 0.29 s of CPU, the 1M-row as-of query 123 -> 118 ms, a 2,000-version inventory 30 -> 27 ms. Queries from
# several threads (portal sessions) still run side by side, each on its own thread; analytics has its own instance.
CATALOG_THREADS = 1


class _Host:
    """The process's one in-memory DuckDB instance, into which catalog files are attached (built on first use)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.aliases = itertools.count(1)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the instance (a DuckDB connection is not shared between threads)."""
        with self.lock:
            if self.con is None:
                self.con = duckdb.connect(":memory:", config={"threads": CATALOG_THREADS})
            return self.con.cursor()


_HOST = _Host()


class _Attached:
    """Per catalog file in this process: whether it is attached to the host instance, and by how many users.

    The first user waits for the gate and attaches the file (retried while a program other than Countersign holds
    DuckDB's lock); the last one detaches it, which checkpoints the file and lets go of DuckDB's lock, then leaves
    the gate.
    """

    def __init__(self, gate: _Gate, path: str) -> None:
        self.gate = gate
        self.path = path
        self.alias = f"catalog_{next(_HOST.aliases)}"
        self.lock = threading.Lock()
        self.users = 0

    def enter(self, deadline: float, busy_timeout: float) -> None:
        with self.lock:
            if self.users == 0:
                self._attach(deadline, busy_timeout)
            self.users += 1

    def _attach(self, deadline: float, busy_timeout: float) -> None:
        self.gate.enter(deadline, self.path)
        try:
            quoted = self.path.replace("'", "''")
            delay = 0.02
            while True:  # another program (not Countersign) may still hold DuckDB's own lock
                try:
                    with contextlib.closing(_HOST.cursor()) as host:
                        # IF NOT EXISTS: a DETACH that failed (a checkpoint on a full disk) left it attached
                        host.execute(f"ATTACH IF NOT EXISTS '{quoted}' AS {self.alias}")
                    return
                except duckdb.IOException as exc:
                    text = str(exc).lower()
                    if "not a valid duckdb database" in text:
                        raise InputError(
                            f"{self.path}: not a catalog (DuckDB cannot read it as a database file). Point the "
                            "workspace at its catalog.duckdb, or move this file away and run 'countersign sync' to "
                            "build a new catalog."
                        ) from None
                    if not any(m in text for m in _LOCK_MARKERS):
                        raise
                    if time.monotonic() >= deadline:
                        raise CatalogBusy(
                            f"{self.path}: the catalog stayed locked by another process for "
                            f"{busy_timeout:.0f} s ({exc}). Wait for it to finish and try again."
                        ) from None
                    time.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 0.5)
        except BaseException:
            self.gate.leave()
            raise

    def leave(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users:
                return
            try:
                with contextlib.closing(_HOST.cursor()) as host:
                    host.execute(f"DETACH {self.alias}")  # checkpoints the file, releases DuckDB's lock
            finally:
                self.gate.leave()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection whose default database is the attached file (while this caller has entered)."""
        con = _HOST.cursor()
        try:
            con.execute(f"USE {self.alias}")
        except BaseException:
            con.close()
            raise
        return con


class _Keeper:
    """Per catalog file in this process: the connection that keeps the file attached between operations while a
    :meth:`Catalog.keep_open` scope is active, and what may be cached only while it is (the ledger head)."""

    # Fairness to other processes: however busy this one is, the file is let go for a moment every MAX_HOLD s
    # (while the operations themselves still open and close it as usual).
    MAX_HOLD: ClassVar[float] = 2.0
    PAUSE: ClassVar[float] = 0.2

    def __init__(self, attached: _Attached) -> None:
        self.attached = attached
        self.lock = threading.Lock()
        self.anchor: duckdb.DuckDBPyConnection | None = None
        self.scopes: list[float] = []  # the linger of each active keep_open scope
        self.last_used = 0.0
        self.opened_at = 0.0
        self.paused_until = 0.0
        self.timer: workers.Timer | None = None
        self.cache: dict[str, Any] = {}

    def touch(self) -> None:
        """After an operation: keep the file attached (opening the anchor cheaply while it still is)."""
        with self.lock:
            if not self.scopes:
                return
            now = time.monotonic()
            self.last_used = now
            if self.anchor is not None and now - self.opened_at >= self.MAX_HOLD:
                self._close()
                self.paused_until = now + self.PAUSE
                return
            if self.anchor is None:
                if now < self.paused_until:
                    return
                self.attached.enter(now + 1.0, 1.0)  # the caller's connection has it attached: no wait
                try:
                    self.anchor = self.attached.cursor()
                except BaseException:
                    self.attached.leave()
                    raise
                self.opened_at = now
            if self.timer is None:
                self._schedule(max(self.scopes))

    def _schedule(self, delay: float) -> None:
        from core import workers  # a scope that outlives its command (the portal) needs a timer; a CLI run does not

        self.timer = workers.Timer(delay, self._expire)
        self.timer.start()

    def _expire(self) -> None:
        with self.lock:
            self.timer = None
            if self.anchor is None:
                return
            linger = max(self.scopes) if self.scopes else 0.0
            idle = time.monotonic() - self.last_used
            if self.scopes and idle < linger:
                self._schedule(linger - idle)
                return
            self._close()

    def _close(self) -> None:
        if self.anchor is not None:
            try:
                self.anchor.close()
            finally:
                self.anchor = None
                self.attached.leave()
        self.cache = {}  # a new dict: a late write into the old one cannot leak into the next generation

    def enter(self, linger: float) -> None:
        with self.lock:
            self.scopes.append(linger)

    def leave(self, linger: float) -> None:
        with self.lock:
            self.scopes.remove(linger)
            if not self.scopes:
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
                self._close()


class CatalogConnection:
    """The workspace catalog file; every method opens and closes its own connection."""

    # One in-process lock serialises writers from different threads; DuckDB would also, but with
    # transaction conflicts the caller would have to retry.
    _write_locks: ClassVar[dict[str, threading.RLock]] = {}
    _keepers: ClassVar[dict[str, _Keeper]] = {}
    _write_locks_guard: ClassVar[threading.Lock] = threading.Lock()
    # per catalog and table, its columns in their order: they change only by a migration (which drops the
    # catalog's entries), and a sync's writes ask for them a dozen times (a statement each, ~0.5 ms)
    _columns: ClassVar[dict[tuple[str, str], list[str]]] = {}

    def __init__(self, path: Path, *, busy_timeout: float = 30.0, url: str | None = None,
                 workspace: Workspace | None = None) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.url = url
        # the workspace whose ledger head and checkpoints this catalog's commits sign (the edge passes it; by default
        # the one the file's place in the workspace layout names)
        self.workspace = workspace if workspace is not None else Workspace.of_catalog(self.path)
        # a PostgreSQL catalog ([catalog] url): the same methods over a pool of its connections; ``path`` still
        # names the workspace's catalog (the signed head and the in-process locks are keyed by it)
        self._pg: PgBackend | None = None
        if url is not None:
            from governance.catalog.postgres import PgBackend

            self._pg = PgBackend(url, busy_timeout=busy_timeout, catalog_path=self.path)
        key = url if url is not None else str(self.path.resolve())
        self._key = key
        with self._write_locks_guard:
            self._write_lock = self._write_locks.setdefault(key, threading.RLock())
            if key not in self._keepers:
                self._keepers[key] = _Keeper(_Attached(_Gate(key), key))
            self._keeper = self._keepers[key]

    # -- connections -------------------------------------------------------------------------------

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits while another process holds the file."""
        if self._pg is not None:
            with self._pg.connect() as pg:
                yield pg  # type: ignore[misc]  # the DuckDB API subset the catalog uses
            return
        attached = self._keeper.attached
        attached.enter(time.monotonic() + self.busy_timeout, self.busy_timeout)
        try:
            con = attached.cursor()
            try:
                yield con
            finally:
                try:
                    self._keeper.touch()
                finally:
                    con.close()
        finally:
            attached.leave()

    @contextmanager
    def keep_open(self, linger: float = 0.5) -> Iterator[Self]:
        """Keep the file open between the operations of a burst of work, until it has been idle ``linger`` s.

        Connections opened inside cost microseconds instead of an attach (~4 ms) and a detach (a checkpoint
        when something was written) each. Another process that wants the file waits
        at most ``linger`` seconds after the last operation (and the whole scope is released on exit), so slow
        work between operations (AWS calls) still leaves the file to others.
        """
        if linger <= 0:
            raise InputError("keep_open needs a positive linger (seconds)")
        if self._pg is not None:  # a server: nothing to keep open, connections are pooled
            yield self
            return
        self._keeper.enter(linger)
        try:
            yield self
        finally:
            self._keeper.leave(linger)

    @contextmanager
    def kept_connection(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, Any]] | None]:
        """While this process keeps the file open: its held connection and cache, for one short exclusive use.

        Saves a connection per statement on hot paths (a ledger append). Other threads' connections wait to be
        closed while it is in use, so keep the use to a statement or two. ``None`` when the file is not kept open.
        """
        keeper = self._keeper
        if self._pg is not None:  # other processes write meanwhile: nothing may be held or cached
            yield None
            return
        with keeper.lock:
            if keeper.anchor is None:
                yield None
            else:
                keeper.last_used = time.monotonic()
                yield keeper.anchor, keeper.cache

    def kept_cache(self) -> dict[str, Any] | None:
        """While this process keeps the file open: a cache that lives exactly as long as the kept instance.

        No other process can change the file while this one holds it, so callers may cache what they read there
        (the ledger caches its head); the cache is dropped when the file is released. ``None`` when the file is
        not being kept open. Writers in this process must still expect the cached value to be behind.
        """
        if self._pg is not None:
            return None
        keeper = self._keeper
        with keeper.lock:
            return keeper.cache if keeper.anchor is not None else None

    def columns(self, con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
        """The columns of ``table`` in their order (read once per process and catalog, until a migration)."""
        found = self._columns.get((self._key, table))
        if found is None:
            found = self._columns[(self._key, table)] = table_columns(con, table)
        return found

    def forget_columns(self) -> None:
        """Drop what :meth:`columns` remembers of this catalog (a migration changed its tables)."""
        for entry in [k for k in self._columns if k[0] == self._key]:
            self._columns.pop(entry, None)

    @property
    def backend(self) -> str:
        """``duckdb`` or ``postgresql``."""
        return "duckdb" if self._pg is None else "postgresql"

    @property
    def write_lock(self) -> threading.RLock:
        """The lock every writer of this file in this process holds (transactions, ledger appends)."""
        return self._write_lock

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction: committed on success, rolled back on any error.

        After the COMMIT (or ROLLBACK) the hooks of :func:`on_transaction_end` run while this process still holds
        the file and its write lock, so no other writer gets in between (the ledger moves its signed head there).
        """
        with self._write_lock, self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                finally:
                    self._end(con, committed=False)
                raise
            try:
                con.execute("COMMIT")
            except BaseException:
                self._end(con, committed=False)
                raise
            self._end(con, committed=True)

    def _end(self, con: duckdb.DuckDBPyConnection, *, committed: bool) -> None:
        for hook in _END_HOOKS:
            hook(self, con, committed)

    def flush(self) -> bool:
        """Write what the file's log holds into the file now (a DuckDB ``CHECKPOINT``), if DuckDB agrees.

        Closing the file checkpoints anyway; inside a :meth:`keep_open` scope this makes the file alone (what a
        backup of catalog.duckdb copies) hold every committed row before the scope ends. (A sync does not call it
        between its accounts: every checkpoint rewrites the row groups they share, which cost more than it saved.)
        It does not take :attr:`write_lock`: DuckDB checkpoints beside a running write transaction (whose rows go
        to the next log), so other writers of this process do not queue behind it. Best effort: False when DuckDB
        declined (or on PostgreSQL, which has no such step to take).
        """
        if self._pg is not None:
            return False
        with self.connect() as con:
            try:
                con.execute("CHECKPOINT")
            except duckdb.TransactionException:
                return False  # another transaction updates or deletes rows: the close will do it
        return True

    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run one read query and return a DataFrame."""
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    def query_dicts(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Run one read query and return its rows as dicts (no pandas: what a CLI command that prints or reports
        rows reads without loading it)."""
        from governance.catalog.records import fetch_dicts

        with self.connect() as con:
            return fetch_dicts(con, sql, params)
