"""The catalog: one DuckDB file, the only module that speaks SQL to the catalog tables.

DuckDB lets one process at a time open a file. The portal and ``countersign sync`` are separate processes, so
nobody keeps the file open: every operation opens a short-lived connection, does its work in one transaction
and closes it. Opening retries with back-off while another process holds the lock (``busy_timeout`` seconds),
then raises :class:`CatalogBusy`. Slow work (calling AWS, computing drift) happens with the file closed.
Within one process DuckDB shares a single database instance between connections, so threads are safe.

Opening the file costs about 15 ms (DuckDB builds a database instance); a connection opened while another one is
open in the same process costs about 20 µs. A burst of work (a sync, a CLI command, a run of ledger appends) runs
inside :meth:`Catalog.keep_open`, which keeps the instance alive between its operations and releases the file once
it has been idle for ``linger`` seconds, so other processes still get their turn.

Schema changes are numbered migrations recorded in ``schema_migrations``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pandas as pd
import pyarrow as pa

from connectors.base import Snapshot
from core.canonical import canonical_json, record_hash
from core.clock import utcnow
from core.errors import CatalogBusy, InputError, NotFound
from core.ids import version_id_for

# Numbered migrations. Never edit a released one: add the next number.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "initial catalog",
        """
        CREATE TABLE accounts (
            name TEXT PRIMARY KEY, environment TEXT NOT NULL, connector TEXT NOT NULL,
            location TEXT, config JSON, updated_at TIMESTAMP
        );
        CREATE TABLE models (
            name TEXT PRIMARY KEY, description TEXT, owner TEXT, risk_tier TEXT, intended_use TEXT,
            tags JSON, updated_at TIMESTAMP
        );
        CREATE TABLE versions (
            version_id TEXT PRIMARY KEY, account TEXT NOT NULL, environment TEXT NOT NULL, model TEXT NOT NULL,
            version INTEGER NOT NULL, source_ref TEXT NOT NULL, approval_status TEXT NOT NULL,
            approval_description TEXT, created_at TIMESTAMP, created_by TEXT, modified_at TIMESTAMP,
            artifact_uri TEXT, artifact_sha256 TEXT, framework TEXT, image TEXT,
            data_uris JSON, report_uris JSON, metrics JSON, metadata JSON,
            run_id TEXT, source_version_id TEXT, source_ref_hint TEXT, model_card_id TEXT,
            raw JSON, record_hash TEXT NOT NULL, synced_at TIMESTAMP
        );
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, account TEXT NOT NULL, kind TEXT, name TEXT, status TEXT,
            started_at TIMESTAMP, ended_at TIMESTAMP, params JSON, metrics JSON, inputs JSON, experiment TEXT,
            raw JSON, record_hash TEXT NOT NULL
        );
        CREATE TABLE deployments (
            deployment_id TEXT PRIMARY KEY, account TEXT NOT NULL, environment TEXT NOT NULL, endpoint TEXT,
            variant TEXT, status TEXT, model TEXT, version_id TEXT, model_data_uri TEXT, weight DOUBLE,
            updated_at TIMESTAMP, raw JSON, record_hash TEXT NOT NULL
        );
        CREATE TABLE model_cards (
            card_id TEXT PRIMARY KEY, account TEXT NOT NULL, model TEXT, version_id TEXT, status TEXT,
            content JSON, updated_at TIMESTAMP, record_hash TEXT NOT NULL
        );
        CREATE TABLE sync_runs (
            sync_id TEXT PRIMARY KEY, account TEXT NOT NULL, started_at TIMESTAMP, finished_at TIMESTAMP,
            status TEXT NOT NULL, error TEXT, counts JSON, issues JSON, watermark TEXT, full_sync BOOLEAN,
            calls INTEGER, throttled INTEGER, actor TEXT
        );
        CREATE TABLE evidence (
            evidence_id TEXT PRIMARY KEY, kind TEXT NOT NULL, version_id TEXT, input_hash TEXT NOT NULL,
            config_hash TEXT NOT NULL, result JSON, summary JSON, software JSON, inputs JSON,
            computed_at TIMESTAMP, computed_by TEXT
        );
        CREATE TABLE promotion_requests (
            request_id TEXT PRIMARY KEY, version_id TEXT NOT NULL, model TEXT NOT NULL, from_env TEXT NOT NULL,
            to_env TEXT NOT NULL, target_account TEXT, requester TEXT NOT NULL, reason TEXT, status TEXT NOT NULL,
            created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP, execution_state TEXT, execution_error TEXT,
            target_version_id TEXT, payload JSON
        );
        CREATE TABLE decisions (
            decision_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
            comment TEXT, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP, payload JSON, ledger_hash TEXT
        );
        CREATE TABLE ledger (
            seq BIGINT PRIMARY KEY, recorded_at TIMESTAMP NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
            subject TEXT, payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
        );
        CREATE INDEX versions_model ON versions(model);
        CREATE INDEX versions_account ON versions(account);
        """,
    ),
    (
        2,
        "what each account says about a model",
        """
        CREATE TABLE model_sources (
            model TEXT NOT NULL, account TEXT NOT NULL, environment TEXT, description TEXT, owner TEXT,
            risk_tier TEXT, intended_use TEXT, tags JSON, PRIMARY KEY (model, account)
        );
        INSERT INTO model_sources SELECT name, '', NULL, description, owner, risk_tier, intended_use, tags FROM models;
        UPDATE sync_runs SET watermark = NULL;
        """,
    ),
    (
        3,
        "periodic reviews and sent notifications (governance.oversight, governance.notify)",
        """
        CREATE TABLE periodic_reviews (
            review_id TEXT PRIMARY KEY, version_id TEXT NOT NULL, model TEXT NOT NULL, reviewer TEXT NOT NULL,
            outcome TEXT NOT NULL, comment TEXT NOT NULL, reviewed_at TIMESTAMP NOT NULL, tier TEXT,
            evidence JSON, gates JSON, ledger_hash TEXT
        );
        CREATE INDEX periodic_reviews_version ON periodic_reviews(version_id);
        CREATE TABLE notifications (
            notification_id TEXT PRIMARY KEY, event_key TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT,
            channel TEXT NOT NULL, recipient TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
            attempted_at TIMESTAMP NOT NULL, title TEXT
        );
        CREATE INDEX notifications_key ON notifications(event_key, channel, recipient)
        """,
    ),
)

_LOCK_MARKERS = ("could not set lock", "conflicting lock", "database is locked", "lock on file")


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


@dataclass(frozen=True)
class SyncCounts:
    """What one snapshot changed in the catalog."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    by_table: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Version:
    """One version as the catalog holds it."""

    version_id: str
    account: str
    environment: str
    model: str
    version: int
    source_ref: str
    approval_status: str
    approval_description: str | None
    created_at: dt.datetime | None
    created_by: str | None
    modified_at: dt.datetime | None
    artifact_uri: str | None
    artifact_sha256: str | None
    framework: str | None
    image: str | None
    data_uris: dict[str, str]
    report_uris: dict[str, str]
    metrics: dict[str, float]
    metadata: dict[str, str]
    run_id: str | None
    source_version_id: str | None
    model_card_id: str | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class Model:
    """One logical model across accounts."""

    name: str
    description: str | None
    owner: str | None
    risk_tier: str | None
    intended_use: str | None
    tags: dict[str, str]


@dataclass(frozen=True)
class InventoryFilter:
    """Filters of the inventory listing; empty values mean 'any'."""

    environments: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    risk_tiers: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    text: str = ""
    model: str | None = None


def _j(value: Any) -> str | None:
    return None if value is None else canonical_json(value)


def _load(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return json.loads(value)
    return value


class _Keeper:
    """Per catalog file in this process: the connection that keeps its database instance alive between operations
    while a :meth:`Catalog.keep_open` scope is active, and what may be cached only while it is (the ledger head)."""

    # Fairness to other processes: however busy this one is, the file is let go for a moment every MAX_HOLD s
    # (while the operations themselves still open and close it as usual).
    MAX_HOLD: ClassVar[float] = 2.0
    PAUSE: ClassVar[float] = 0.2

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.anchor: duckdb.DuckDBPyConnection | None = None
        self.scopes: list[float] = []  # the linger of each active keep_open scope
        self.last_used = 0.0
        self.opened_at = 0.0
        self.paused_until = 0.0
        self.timer: threading.Timer | None = None
        self.cache: dict[str, Any] = {}

    def touch(self, path: str) -> None:
        """After an operation: keep the instance alive (opening the anchor cheaply while it is still open)."""
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
                self.anchor = duckdb.connect(path)
                self.opened_at = now
            if self.timer is None:
                self._schedule(max(self.scopes))

    def _schedule(self, delay: float) -> None:
        self.timer = threading.Timer(delay, self._expire)
        self.timer.daemon = True
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
            self.anchor.close()
            self.anchor = None
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


@dataclass(frozen=True)
class SyncMark:
    """Where an account's syncs stand: the newest successful sync's watermark, the start of the last full pass."""

    watermark: str | None
    last_full_at: dt.datetime | None


def _sync_marks(con: duckdb.DuckDBPyConnection, account: str | None = None) -> dict[str, SyncMark]:
    """Per account (or only ``account``): its newest successful watermark and when its last full pass started."""
    only, params = ("AND account = ?", [account]) if account else ("", [])
    rows = con.execute(
        "SELECT account, arg_max(watermark, (finished_at, sync_id)), max(started_at) FILTER (WHERE full_sync) "
        f"FROM sync_runs WHERE status IN ('ok', 'partial') {only} GROUP BY account",
        params,
    ).fetchall()
    return {r[0]: SyncMark(r[1], r[2]) for r in rows}


class Catalog:
    """The workspace catalog file; every method opens and closes its own connection."""

    # One in-process lock serialises writers from different threads; DuckDB would also, but with
    # transaction conflicts the caller would have to retry.
    _write_locks: ClassVar[dict[str, threading.RLock]] = {}
    _keepers: ClassVar[dict[str, _Keeper]] = {}
    _write_locks_guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        key = str(self.path.resolve())
        with self._write_locks_guard:
            self._write_lock = self._write_locks.setdefault(key, threading.RLock())
            self._keeper = self._keepers.setdefault(key, _Keeper())

    # -- connections -------------------------------------------------------------------------------

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits while another process holds the file."""
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                text = str(exc).lower()
                if not any(m in text for m in _LOCK_MARKERS):
                    raise
                if time.monotonic() >= deadline:
                    raise CatalogBusy(
                        f"{self.path}: the catalog stayed locked by another process for {self.busy_timeout:.0f} s "
                        f"({exc}). Wait for it to finish and try again."
                    ) from None
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)
        try:
            yield con
        finally:
            try:
                self._keeper.touch(str(self.path))
            finally:
                con.close()

    @contextmanager
    def keep_open(self, linger: float = 0.5) -> Iterator[Catalog]:
        """Keep the file open between the operations of a burst of work, until it has been idle ``linger`` s.

        Connections opened inside cost microseconds instead of ~15 ms. Another process that wants the file waits
        at most ``linger`` seconds after the last operation (and the whole scope is released on exit), so slow
        work between operations (AWS calls) still leaves the file to others.
        """
        if linger <= 0:
            raise InputError("keep_open needs a positive linger (seconds)")
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
        keeper = self._keeper
        with keeper.lock:
            return keeper.cache if keeper.anchor is not None else None

    @property
    def write_lock(self) -> threading.RLock:
        """The lock every writer of this file in this process holds (transactions, ledger appends)."""
        return self._write_lock

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction: committed on success, rolled back on any error."""
        with self._write_lock, self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run one read query and return a DataFrame."""
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    # -- schema ------------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the migrations not yet recorded; return the numbers applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        applied: list[int] = []
        with self.transaction() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for number, name, sql in MIGRATIONS:
                if number in done:
                    continue
                for statement in (s.strip() for s in sql.split(";")):
                    if statement:
                        con.execute(statement)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [number, name, utcnow()])
                applied.append(number)
        return applied

    def schema_version(self) -> int:
        """The highest migration number applied (0 for a new file)."""
        with self.connect() as con:
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
            ).fetchone()[0]
            if not exists:
                return 0
            return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]

    # -- accounts and sync -------------------------------------------------------------------------

    def upsert_accounts(self, accounts: Iterable[Any]) -> dict[str, SyncMark]:
        """Record the configured accounts (``AccountConfig`` objects); return where each one's syncs stand.

        One transaction for both, because a sync needs both and every connection costs an open of the file.
        """
        rows = [
            (a.name, a.environment, a.connector, a.location, _j(a.model_dump(exclude_none=True)))
            for a in accounts
        ]
        with self.transaction() as con:
            stored = {r[0]: tuple(r[1:5]) for r in con.execute(
                "SELECT name, environment, connector, location, config FROM accounts").fetchall()}
            for row in rows:
                old = stored.get(row[0])
                if old is None or old[:3] != row[1:4] or _load(old[3]) != _load(row[4]):
                    con.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?, ?, ?, ?, ?)", [*row, utcnow()])
            return _sync_marks(con)

    def sync_mark(self, account: str) -> SyncMark:
        """The watermark of the newest successful sync of ``account`` and when its last full pass started."""
        with self.connect() as con:
            return _sync_marks(con, account).get(account, SyncMark(None, None))

    def record_sync_failure(
        self, *, sync_id: str, account: str, started_at: dt.datetime, error: str, full: bool, actor: str
    ) -> None:
        """Record a sync of ``account`` that failed as a whole; its data stays as it was."""
        with self.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO sync_runs VALUES (?, ?, ?, ?, 'failed', ?, NULL, NULL, NULL, ?, 0, 0, ?)",
                [sync_id, account, started_at, utcnow(), error, full, actor],
            )

    def apply_snapshot(
        self,
        *,
        sync_id: str,
        account: str,
        environment: str,
        snapshot: Snapshot,
        started_at: dt.datetime,
        full: bool,
        actor: str,
        model_overrides: dict[str, dict[str, Any]] | None = None,
        environment_order: Sequence[str] = (),
        before_commit: Callable[[duckdb.DuckDBPyConnection, SyncCounts, str], None] | None = None,
    ) -> SyncCounts:
        """Write one account's snapshot and its sync run in a single transaction (all or nothing).

        ``before_commit(con, counts, status)`` runs inside that transaction (the sync's ledger entry uses it, so
        the record of a sync commits or rolls back with the sync itself). Where accounts describe the same model
        differently, the account furthest along ``environment_order`` wins (prod's registry over dev's), whatever
        order the accounts sync in; ``model_overrides`` (the ``[models.X]`` settings) win over every account.
        """
        now = utcnow()
        overrides = model_overrides or {}
        version_rows: dict[str, tuple[Any, ...]] = {}
        ref_to_id: dict[str, str] = {}
        for v in snapshot.versions:
            vid = version_id_for(account, v.model, v.version)
            ref_to_id[v.source_ref] = vid
        for v in snapshot.versions:
            vid = ref_to_id[v.source_ref]
            body = {
                "approval_status": v.approval_status,
                "approval_description": v.approval_description,
                "created_at": v.created_at,
                "created_by": v.created_by,
                "modified_at": v.modified_at,
                "artifact_uri": v.artifact_uri,
                "artifact_sha256": v.artifact_sha256,
                "framework": v.framework,
                "image": v.image,
                "data_uris": v.data_uris,
                "report_uris": v.report_uris,
                "metrics": v.metrics,
                "metadata": v.metadata,
                "run_ref": v.run_ref,
                "source": [v.source_account, v.source_version_ref],
                "card": v.model_card_ref,
                "ref": v.source_ref,
            }
            run_id = f"{account}:{v.run_ref}" if v.run_ref else None
            card_id = f"{account}:{v.model_card_ref}" if v.model_card_ref else None
            version_rows[vid] = (
                vid, account, environment, v.model, v.version, v.source_ref, v.approval_status,
                v.approval_description, _naive_utc(v.created_at), v.created_by, _naive_utc(v.modified_at),
                v.artifact_uri, v.artifact_sha256, v.framework, v.image, _j(v.data_uris), _j(v.report_uris),
                _j(v.metrics), _j(v.metadata), run_id, None,
                canonical_json([v.source_account, v.source_version_ref]) if v.source_version_ref else None,
                card_id, _j(v.raw), record_hash(body), now,
            )
        run_rows = {
            f"{account}:{r.run_ref}": (
                f"{account}:{r.run_ref}", account, r.kind, r.name, r.status, _naive_utc(r.started_at),
                _naive_utc(r.ended_at), _j(r.params), _j(r.metrics), _j(r.inputs), r.experiment, _j(r.raw),
                record_hash([r.kind, r.name, r.status, r.started_at, r.ended_at, r.params, r.metrics, r.inputs,
                             r.experiment]),
            )
            for r in snapshot.runs
        }
        card_rows = {
            f"{account}:{c.card_ref}": (
                f"{account}:{c.card_ref}", account, c.model, ref_to_id.get(c.version_ref or ""), c.status,
                _j(c.content), _naive_utc(c.updated_at),
                record_hash([c.model, c.version_ref, c.status, c.content, c.updated_at]),
            )
            for c in snapshot.model_cards
        }

        # An incremental snapshot that found nothing new changes no rows: only the sync run is recorded.
        nothing_new = not full and not (snapshot.models or snapshot.versions or snapshot.runs
                                         or snapshot.deployments or snapshot.model_cards)
        with self.transaction() as con:
            if nothing_new:
                by_table = {t: {"added": 0, "updated": 0, "unchanged": 0, "deleted": 0}
                            for t in ("versions", "runs", "deployments", "model_cards")}
            else:
                # versions not in this snapshot (incremental sync) still resolve for deployments and cards
                known = dict(
                    con.execute("SELECT source_ref, version_id FROM versions WHERE account = ?", [account]).fetchall()
                )
                known.update(ref_to_id)
                by_artifact = dict(
                    con.execute(
                        "SELECT artifact_uri, version_id FROM versions WHERE account = ? AND artifact_uri IS NOT NULL",
                        [account],
                    ).fetchall()
                )
                by_artifact.update({r[11]: r[0] for r in version_rows.values() if r[11]})
                deployment_rows = {}
                for d in snapshot.deployments:
                    did = f"{account}:{d.endpoint}:{d.variant}"
                    vid = known.get(d.version_ref or "") or by_artifact.get(d.model_data_uri or "")
                    model = d.model or (vid.split(":")[1] if vid else None)
                    deployment_rows[did] = (
                        did, account, environment, d.endpoint, d.variant, d.status, model, vid, d.model_data_uri,
                        d.weight, _naive_utc(d.updated_at), _j(d.raw),
                        record_hash([d.endpoint, d.variant, d.status, model, vid, d.model_data_uri, d.weight]),
                    )
                for card_id, row in list(card_rows.items()):
                    if row[3] is None and snapshot.model_cards:
                        ref = next((c.version_ref for c in snapshot.model_cards if f"{account}:{c.card_ref}" == card_id), None)
                        if ref and ref in known:
                            card_rows[card_id] = (*row[:3], known[ref], *row[4:])

                # An item the connector could not read is kept as it was: bad input never deletes stored data.
                kept_versions = {known[i.ref] for i in snapshot.issues if i.ref in known}
                other_issues = any(i.ref not in known for i in snapshot.issues)
                by_table: dict[str, dict[str, int]] = {}
                tables = (
                    ("versions", "version_id", version_rows, 24, kept_versions, True),
                    ("runs", "run_id", run_rows, 12, set(), not snapshot.issues),
                    ("deployments", "deployment_id", deployment_rows, 12, set(), not other_issues),
                    ("model_cards", "card_id", card_rows, 7, set(), not other_issues),
                )
                for table, key, rows, hash_pos, keep, may_delete in tables:
                    by_table[table] = self._upsert_rows(
                        con, table, key, account, rows, hash_pos,
                        delete_missing=full and snapshot.complete and may_delete, keep=keep,
                    )
                self._resolve_lineage(con, account)
                self._upsert_models(con, account, environment, snapshot, overrides, now, environment_order,
                                    replace=full and snapshot.complete)
            totals = {k: sum(t[k] for t in by_table.values()) for k in ("added", "updated", "unchanged", "deleted")}
            status = "partial" if snapshot.issues else "ok"
            con.execute(
                "INSERT OR REPLACE INTO sync_runs VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)",
                [
                    sync_id, account, started_at, utcnow(), status, _j(by_table),
                    _j([{"ref": i.ref, "message": i.message} for i in snapshot.issues]),
                    snapshot.watermark, full, snapshot.calls, snapshot.throttled, actor,
                ],
            )
            counts = SyncCounts(by_table=by_table, **totals)
            if before_commit is not None:
                before_commit(con, counts, status)
        return counts

    @staticmethod
    def _upsert_rows(
        con: duckdb.DuckDBPyConnection,
        table: str,
        key: str,
        account: str,
        rows: dict[str, tuple[Any, ...]],
        hash_pos: int,
        *,
        delete_missing: bool,
        keep: set[str] | frozenset[str] = frozenset(),
    ) -> dict[str, int]:
        existing = dict(con.execute(f"SELECT {key}, record_hash FROM {table} WHERE account = ?", [account]).fetchall())
        added = [r for k, r in rows.items() if k not in existing]
        changed = [r for k, r in rows.items() if k in existing and existing[k] != r[hash_pos]]
        unchanged = len(rows) - len(added) - len(changed)
        gone = [k for k in existing if k not in rows and k not in keep] if delete_missing else []
        stale = [r[0] for r in changed] + gone
        if stale:
            con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT unnest(?))", [stale])
        fresh = added + changed
        if fresh:
            # one columnar insert: executemany costs ~2 ms a row, this ~2 ms for thousands
            # (an Arrow table rather than a registered pandas frame: pandas_scan raced under parallel account syncs)
            columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            arrow = pa.Table.from_pydict({c: [r[i] for r in fresh] for i, c in enumerate(columns)})
            con.from_arrow(arrow).insert_into(table)
        return {"added": len(added), "updated": len(changed), "unchanged": unchanged, "deleted": len(gone)}

    @staticmethod
    def _resolve_lineage(con: duckdb.DuckDBPyConnection, account: str) -> None:
        # A promoted version names its source by (account, ref); resolve it to a catalog id once both are known.
        con.execute(
            """
            UPDATE versions AS v SET source_version_id = s.version_id
            FROM versions AS s
            WHERE v.source_ref_hint IS NOT NULL
              AND s.account = json_extract_string(v.source_ref_hint, '$[0]')
              AND s.source_ref = json_extract_string(v.source_ref_hint, '$[1]')
              AND v.source_version_id IS DISTINCT FROM s.version_id
            """
        )
        # Without provenance metadata, the same artifact registered earlier in another account is the source.
        con.execute(
            """
            UPDATE versions AS v SET source_version_id = c.src FROM (
                SELECT v2.version_id AS vid, arg_max(s.version_id, s.created_at) AS src
                FROM versions v2 JOIN versions s
                  ON s.artifact_uri = v2.artifact_uri AND s.account <> v2.account AND s.created_at < v2.created_at
                WHERE v2.source_ref_hint IS NULL AND v2.artifact_uri LIKE 's3://%'
                GROUP BY v2.version_id
            ) AS c
            WHERE v.version_id = c.vid AND v.source_version_id IS NULL
            """
        )

    @staticmethod
    def _upsert_models(
        con: duckdb.DuckDBPyConnection,
        account: str,
        environment: str,
        snapshot: Snapshot,
        overrides: dict[str, dict[str, Any]],
        now: dt.datetime,
        environment_order: Sequence[str],
        *,
        replace: bool,
    ) -> None:
        """Record what ``account`` says about its models, then derive each model's row from every account.

        ``replace`` (a complete full pass): the account's statements are taken as they are, and models it no
        longer has lose its statements. Otherwise a missing field means 'not read this time' and keeps the old one.
        """
        fields = ("description", "owner", "risk_tier", "intended_use")
        said = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT model, description, owner, risk_tier, intended_use, tags, environment FROM model_sources "
                "WHERE account = ?",
                [account],
            ).fetchall()
        }
        stated_here = {m.name for m in snapshot.models}
        names = stated_here | {v.model for v in snapshot.versions}
        for m in snapshot.models:
            old = said.get(m.name)
            values = [getattr(m, f) for f in fields]
            tags = dict(m.tags)
            if old is not None and not replace:
                values = [new if new is not None else before for new, before in zip(values, old[:4], strict=True)]
                tags = {**(_load(old[4]) or {}), **tags}
            if old is None or (*values, tags) != (*old[:4], _load(old[4]) or {}) or old[5] != environment:
                con.execute("INSERT OR REPLACE INTO model_sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [m.name, account, environment, *values, _j(tags)])
        if replace:
            gone = set(said) - stated_here
            for name in gone:
                con.execute("DELETE FROM model_sources WHERE model = ? AND account = ?", [name, account])
            names |= gone
        if not names:
            return

        rank = {env: i for i, env in enumerate(environment_order)}
        # What the catalog said before model_sources existed (account ''; migration 2) counts as said from the
        # model's furthest environment, after any account there, until an account that far along states it itself.
        furthest = {
            r[0]: max((rank.get(e, -1) for e in r[1]), default=-1)
            for r in con.execute(
                "SELECT model, list(DISTINCT environment) FROM versions WHERE model IN (SELECT unnest(?)) GROUP BY 1",
                [sorted(names)],
            ).fetchall()
        }
        restated = sorted(n for n in stated_here if rank.get(environment, -1) >= furthest.get(n, -1))
        if restated:
            con.execute("DELETE FROM model_sources WHERE account = '' AND model IN (SELECT unnest(?))", [restated])
        sources: dict[str, list[tuple[Any, ...]]] = {}
        for row in con.execute(
            "SELECT model, account, environment, description, owner, risk_tier, intended_use, tags "
            "FROM model_sources WHERE model IN (SELECT unnest(?))",
            [sorted(names)],
        ).fetchall():
            sources.setdefault(row[0], []).append(row)
        stored = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT name, description, owner, risk_tier, intended_use, tags FROM models WHERE name IN (SELECT unnest(?))",
                [sorted(names)],
            ).fetchall()
        }
        for name in sorted(names):
            current = stored.get(name)
            # most authoritative first: furthest along the promotion order, then account name for a stable tie-break
            said_by = sorted(sources.get(name, []), key=lambda r: (
                -(furthest.get(name, -1) if r[1] == "" else rank.get(r[2], -1)), r[1] == "", r[1]))
            o = overrides.get(name, {})
            merged: dict[str, Any] = {}
            for i, f in enumerate(fields):
                stated = next((r[3 + i] for r in said_by if r[3 + i] is not None), None)
                if not said_by and current is not None:
                    stated = current[i]  # a catalog from before model_sources: keep what it had
                merged[f] = o.get(f) or stated
            tags: dict[str, Any] = {} if said_by or current is None else (_load(current[4]) or {})
            for r in reversed(said_by):
                tags.update(_load(r[7]) or {})
            merged["tags"] = tags
            if current and (*current[:4], _load(current[4]) or {}) == (*(merged[f] for f in fields), tags):
                continue
            con.execute("DELETE FROM models WHERE name = ?", [name])
            con.execute(
                "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?)",
                [name, *(merged[f] for f in fields), _j(tags), now],
            )

    # -- reads -------------------------------------------------------------------------------------

    def inventory(self, flt: InventoryFilter = InventoryFilter(), environment_order: Sequence[str] = ()) -> pd.DataFrame:
        """Every version across accounts with its model, deployments and sync freshness.

        Sorted by model, then environment in ``environment_order`` (promotion order), then newest version first.
        """
        where, params = ["TRUE"], []
        for column, values in (
            ("v.environment", flt.environments),
            ("v.account", flt.accounts),
            ("v.approval_status", flt.statuses),
            ("m.risk_tier", flt.risk_tiers),
            ("m.owner", flt.owners),
        ):
            if values:
                where.append(f"{column} IN (SELECT unnest(?))")
                params.append(list(values))
        if flt.model:
            where.append("v.model = ?")
            params.append(flt.model)
        if flt.text.strip():
            where.append(
                "(v.model ILIKE ? OR v.version_id ILIKE ? OR coalesce(v.created_by, '') ILIKE ? "
                "OR coalesce(m.owner, '') ILIKE ? OR coalesce(m.description, '') ILIKE ?)"
            )
            params.extend([f"%{flt.text.strip()}%"] * 5)
        sql = f"""
            WITH dep AS (
                SELECT version_id, string_agg(endpoint, ', ' ORDER BY endpoint) AS deployed_on,
                       bool_or(status = 'InService') AS serving
                FROM deployments WHERE version_id IS NOT NULL GROUP BY version_id
            ), fresh AS (
                SELECT account, max(finished_at) AS last_sync FROM sync_runs
                WHERE status IN ('ok', 'partial') GROUP BY account
            ), signed AS (  -- versions a Countersign promotion request put where they are
                SELECT DISTINCT target_version_id AS version_id FROM promotion_requests
                WHERE status = 'executed' AND target_version_id IS NOT NULL
            )
            SELECT v.version_id, v.model, v.version, v.environment, v.account, v.approval_status,
                   m.risk_tier, m.owner, v.created_by, v.created_at, dep.deployed_on,
                   coalesce(dep.serving, FALSE) AS serving,
                   coalesce(dep.serving, FALSE) AND v.approval_status <> 'Approved' AS unapproved_deployment,
                   v.source_version_id, v.metrics, fresh.last_sync,
                   signed.version_id IS NOT NULL AS approved_in_countersign,
                   coalesce(dep.serving, FALSE) AND signed.version_id IS NULL AS serving_without_countersign
            FROM versions v
            LEFT JOIN models m ON m.name = v.model
            LEFT JOIN dep ON dep.version_id = v.version_id
            LEFT JOIN fresh ON fresh.account = v.account
            LEFT JOIN signed ON signed.version_id = v.version_id
            WHERE {' AND '.join(where)}
            ORDER BY v.model, coalesce(list_position(?, v.environment), 999), v.environment, v.version DESC, v.account
        """
        return self.query_df(sql, [*params, list(environment_order)])

    def filter_values(self) -> dict[str, list[str]]:
        """Distinct values for the inventory filters."""
        with self.connect() as con:
            def col(sql: str) -> list[str]:
                return [r[0] for r in con.execute(sql).fetchall() if r[0] is not None]

            return {
                "environments": col("SELECT DISTINCT environment FROM versions ORDER BY 1"),
                "accounts": col("SELECT DISTINCT account FROM versions ORDER BY 1"),
                "statuses": col("SELECT DISTINCT approval_status FROM versions ORDER BY 1"),
                "risk_tiers": col("SELECT DISTINCT risk_tier FROM models ORDER BY 1"),
                "owners": col("SELECT DISTINCT owner FROM models ORDER BY 1"),
                "models": col("SELECT name FROM models ORDER BY 1"),
            }

    def models(self) -> pd.DataFrame:
        """One row per logical model with its version count and environments present."""
        return self.query_df(
            """
            SELECT m.name, m.owner, m.risk_tier, m.intended_use, m.description,
                   count(v.version_id) AS versions,
                   string_agg(DISTINCT v.environment, ', ' ORDER BY v.environment) AS environments,
                   max(v.created_at) AS latest_version_at
            FROM models m LEFT JOIN versions v ON v.model = m.name
            GROUP BY ALL ORDER BY m.name
            """
        )

    def model(self, name: str) -> Model:
        """The model called ``name``."""
        with self.connect() as con:
            row = con.execute(
                "SELECT name, description, owner, risk_tier, intended_use, tags FROM models WHERE name = ?", [name]
            ).fetchone()
            if row is None:
                known = [r[0] for r in con.execute("SELECT name FROM models ORDER BY 1 LIMIT 20").fetchall()]
        if row is None:
            raise NotFound(f"unknown model {name!r} (known: {', '.join(known) or 'none — run countersign sync'})")
        return Model(*row[:5], tags=_load(row[5]) or {})

    _VERSION_COLS = (
        "version_id, account, environment, model, version, source_ref, approval_status, approval_description, "
        "created_at, created_by, modified_at, artifact_uri, artifact_sha256, framework, image, data_uris, "
        "report_uris, metrics, metadata, run_id, source_version_id, model_card_id, raw"
    )

    @staticmethod
    def _version(row: tuple[Any, ...]) -> Version:
        vals = list(row)
        for i in (15, 16, 17, 18, 22):
            vals[i] = _load(vals[i]) or {}
        return Version(*vals)

    def version(self, version_id: str) -> Version:
        """The version with catalog id ``version_id`` (``account:model:version``)."""
        with self.connect() as con:
            row = con.execute(f"SELECT {self._VERSION_COLS} FROM versions WHERE version_id = ?", [version_id]).fetchone()
        if row is None:
            raise NotFound(f"unknown version {version_id!r}: expected ACCOUNT:MODEL:VERSION as listed by 'countersign models'")
        return self._version(row)

    def find_version(self, model: str, version: int | str, environment: str | None = None) -> Version:
        """A version by model name and number (newest environment first when several accounts hold it)."""
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise InputError(f"version must be a number, got {version!r}") from None
        sql = f"SELECT {self._VERSION_COLS} FROM versions WHERE model = ? AND version = ?"
        params: list[Any] = [model, number]
        if environment:
            sql += " AND environment = ?"
            params.append(environment)
        with self.connect() as con:
            rows = con.execute(sql + " ORDER BY created_at DESC", params).fetchall()
        if not rows:
            self.model(model)  # raises NotFound for an unknown model
            where = f" in {environment}" if environment else ""
            raise NotFound(f"model {model!r} has no version {number}{where}")
        return self._version(rows[0])

    def versions_of(self, model: str) -> list[Version]:
        """All versions of ``model`` across accounts."""
        with self.connect() as con:
            rows = con.execute(
                f"SELECT {self._VERSION_COLS} FROM versions WHERE model = ? ORDER BY environment, version", [model]
            ).fetchall()
        return [self._version(r) for r in rows]

    def lineage(self, version_id: str) -> list[Version]:
        """The chain from ``version_id`` back through the versions it was promoted from (itself first)."""
        chain: list[Version] = []
        seen: set[str] = set()
        current: str | None = version_id
        while current and current not in seen:
            seen.add(current)
            v = self.version(current)
            chain.append(v)
            current = v.source_version_id
        return chain

    def descendants(self, version_id: str) -> list[str]:
        """Ids of versions promoted from ``version_id`` (directly or further down)."""
        with self.connect() as con:
            rows = con.execute(
                """
                WITH RECURSIVE d(id) AS (
                    SELECT version_id FROM versions WHERE source_version_id = ?
                    UNION SELECT v.version_id FROM versions v JOIN d ON v.source_version_id = d.id
                ) SELECT id FROM d ORDER BY id
                """,
                [version_id],
            ).fetchall()
        return [r[0] for r in rows]

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run as a dict, or None."""
        with self.connect() as con:
            cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
            row = cur.fetchone()
            if row is None:
                return None
            names = [d[0] for d in cur.description]
        out = dict(zip(names, row, strict=True))
        for k in ("params", "metrics", "inputs", "raw"):
            out[k] = _load(out[k]) or {}
        return out

    def deployments(self, model: str | None = None) -> pd.DataFrame:
        """Deployments, optionally of one model, with the served version's approval status."""
        sql = """
            SELECT d.deployment_id, d.account, d.environment, d.endpoint, d.variant, d.status, d.model,
                   d.version_id, v.version, v.approval_status, d.weight, d.updated_at
            FROM deployments d LEFT JOIN versions v ON v.version_id = d.version_id
        """
        params: list[Any] = []
        if model:
            sql += " WHERE d.model = ?"
            params.append(model)
        return self.query_df(sql + " ORDER BY d.environment, d.endpoint", params)

    def model_card(self, model: str) -> dict[str, Any] | None:
        """The newest model card of ``model`` across accounts, as a dict."""
        with self.connect() as con:
            row = con.execute(
                "SELECT card_id, account, status, content, updated_at FROM model_cards WHERE model = ? "
                "ORDER BY updated_at DESC NULLS LAST, card_id LIMIT 1",
                [model],
            ).fetchone()
        if row is None:
            return None
        return {"card_id": row[0], "account": row[1], "status": row[2], "content": _load(row[3]) or {}, "updated_at": row[4]}

    def sync_status(self) -> pd.DataFrame:
        """The newest sync run per account (every configured account, synced or not)."""
        return self.query_df(
            """
            WITH last AS (
                SELECT *, row_number() OVER (PARTITION BY account ORDER BY started_at DESC, sync_id DESC) AS rn
                FROM sync_runs
            ), last_ok AS (
                SELECT account, max(finished_at) AS last_success,
                       max(finished_at) FILTER (WHERE full_sync) AS last_full_pass
                FROM sync_runs WHERE status IN ('ok', 'partial') GROUP BY account
            )
            SELECT a.name AS account, a.environment, a.connector, a.location, l.status, l.started_at,
                   l.finished_at, l.error, l.counts, l.issues, l.calls, l.throttled, l.full_sync,
                   o.last_success, o.last_full_pass,
                   (SELECT count(*) FROM versions v WHERE v.account = a.name) AS versions
            FROM accounts a
            LEFT JOIN last l ON l.account = a.name AND l.rn = 1
            LEFT JOIN last_ok o ON o.account = a.name
            ORDER BY a.environment, a.name
            """
        )

    def sync_runs(self, account: str | None = None, limit: int = 50) -> pd.DataFrame:
        """Recent sync runs, newest first."""
        sql = "SELECT * FROM sync_runs"
        params: list[Any] = []
        if account:
            sql += " WHERE account = ?"
            params.append(account)
        return self.query_df(sql + " ORDER BY started_at DESC, sync_id DESC LIMIT ?", [*params, limit])

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        with self.connect() as con:
            return {
                t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("accounts", "models", "versions", "runs", "deployments", "model_cards", "sync_runs",
                          "evidence", "promotion_requests", "decisions", "ledger")
            }

    def table_digest(self, tables: Sequence[str] = ("models", "versions", "runs", "deployments", "model_cards")) -> str:
        """A sha256 over the content of ``tables`` (ordered, without sync timestamps): equal content, equal digest."""
        parts = []
        with self.connect() as con:
            for t in tables:
                cols = [
                    r[0]
                    for r in con.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                        [t],
                    ).fetchall()
                    if r[0] not in ("synced_at", "updated_at")
                ]
                rows = con.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY ALL").fetchall()
                parts.append([t, cols, rows])
        return record_hash(parts)
