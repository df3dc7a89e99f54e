"""History written from outside a sync: a backfill's rows (before the first sync, from what a registry keeps), the
events ``countersign listen`` receives, and how far back each account's history reaches.

A backfill replaces its own earlier rows for the account: rows an earlier backfill wrote that the new one does not
write again are marked ``superseded_by`` (never deleted), and every history reader leaves them out. Rows are keyed by
a digest of what they state, so the same reading written twice is one set of rows (idempotent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import duckdb

from core.structs import Row
from governance.catalog.connection import CatalogConnection
from governance.catalog.records import fetch_dicts, to_json

HISTORY_ROW_TABLES = ("version_history", "deployment_history", "history_gaps")


class Reach(Row):
    """How far back one account's history goes: its first successful sync, and its current backfill's reach."""

    account: str
    first_sync: dt.datetime | None
    backfill_id: str | None
    backfill_reach: dt.datetime | None
    backfill_sources: tuple[str, ...] = ()

    @property
    def history_from(self) -> dt.datetime | None:
        """From when states are known (None: never synced)."""
        if self.backfill_reach is not None and self.first_sync is not None:
            return min(self.backfill_reach, self.first_sync)
        return self.first_sync


class PlannedRows(Row):
    """The rows one backfill states, per history table (each row a dict of that table's columns)."""

    version_history: tuple[dict[str, Any], ...] = ()
    deployment_history: tuple[dict[str, Any], ...] = ()
    history_gaps: tuple[dict[str, Any], ...] = ()

    def of(self, table: str) -> tuple[dict[str, Any], ...]:
        """The rows planned for history table ``table``."""
        return getattr(self, table)


def _key(table: str) -> str:
    return "gap_id" if table == "history_gaps" else "history_id"


class BackfillStore(CatalogConnection):
    """Writes and reads of backfills and received events (the SQL of :mod:`governance.backfill` and
    :mod:`governance.events`)."""

    def history_reach(self) -> list[Reach]:
        """Every recorded account's first successful sync and current backfill reach."""
        rows = self.query_dicts(
            """
            SELECT a.name AS account,
                   (SELECT min(s.started_at) FROM sync_runs s
                    WHERE s.account = a.name AND s.status IN ('ok', 'partial')) AS first_sync,
                   b.backfill_id, b.reach, b.sources
            FROM accounts a LEFT JOIN backfills b ON b.account = a.name AND b.superseded_by IS NULL
            ORDER BY a.name
            """
        )
        out = []
        for r in rows:
            sources = r["sources"] if isinstance(r["sources"], str) else None
            out.append(Reach(r["account"], _ts(r["first_sync"]), r["backfill_id"] if isinstance(r["backfill_id"], str)
                             else None, _ts(r["reach"]), tuple(_json_list(sources))))
        return out

    def version_gaps_at(self, instant: dt.datetime) -> list[dict[str, Any]]:
        """The version-level gaps (a version existed, its state unknown) holding at ``instant``."""
        return self.query_dicts(
            "SELECT gap_id, account, version_id, gap_from, gap_to, reason, detail, source FROM history_gaps "
            "WHERE version_id IS NOT NULL AND superseded_by IS NULL AND coalesce(gap_from, TIMESTAMP '-infinity') <= ? "
            "AND (gap_to IS NULL OR gap_to > ?) ORDER BY version_id", [instant, instant])

    def backfill_basis(self, account: str) -> dict[str, Any]:
        """What a backfill of ``account`` builds on: the first successful sync, each version's catalog row and first
        state recorded by something other than a backfill, each endpoint variant's first such state."""
        with self.connect() as con:
            first = con.execute("SELECT min(started_at) FROM sync_runs WHERE account = ? AND status IN ('ok', 'partial')",
                                [account]).fetchone()[0]
            versions = fetch_dicts(
                con, "SELECT version_id, model, version, source_ref, environment, created_at, created_by, modified_at, "
                     "artifact_uri FROM versions WHERE account = ?", [account])
            firsts = fetch_dicts(
                con, "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY version_id ORDER BY valid_from, "
                     "history_id) AS _first FROM version_history WHERE account = ? AND backfill_id IS NULL "
                     "AND superseded_by IS NULL) AS h WHERE _first = 1", [account])
            deps = fetch_dicts(
                con, "SELECT deployment_id, min(valid_from) AS first FROM deployment_history WHERE account = ? "
                     "AND backfill_id IS NULL AND superseded_by IS NULL GROUP BY deployment_id", [account])
        return {"first_sync": first, "versions": versions, "first_states": {r["version_id"]: r for r in firsts},
                "first_deployments": {r["deployment_id"]: r["first"] for r in deps}}

    def backfill_rows(self, con: duckdb.DuckDBPyConnection, account: str) -> dict[str, dict[str, str]]:
        """Per history table, the ids of the rows current backfills of ``account`` wrote → the backfill's id."""
        return {table: dict(con.execute(
            f"SELECT {_key(table)}, backfill_id FROM {table} WHERE account = ? AND backfill_id IS NOT NULL "
            "AND superseded_by IS NULL", [account]).fetchall()) for table in HISTORY_ROW_TABLES}

    def write_backfill(self, con: duckdb.DuckDBPyConnection, account: str, backfill: dict[str, Any],
                       planned: PlannedRows, current: dict[str, dict[str, str]]) -> dict[str, int]:
        """Inside the caller's transaction: insert the planned rows not written yet, mark earlier backfills' rows the
        plan no longer states (and those backfills) superseded, record ``backfill``. Returns counts per table."""
        counts: dict[str, int] = {}
        new_id = backfill["backfill_id"]
        for table in HISTORY_ROW_TABLES:
            key = _key(table)
            rows = planned.of(table)
            wanted = {r[key] for r in rows}
            fresh = [dict(r, backfill_id=new_id) for r in rows if r[key] not in current[table]]
            stale = sorted(set(current[table]) - wanted)
            if stale:
                con.execute(f"UPDATE {table} SET superseded_by = ? WHERE {key} IN (SELECT unnest(?))", [new_id, stale])
            insert_rows(con, table, fresh, self.columns(con, table))
            counts[f"{table}.added"] = len(fresh)
            counts[f"{table}.superseded"] = len(stale)
        con.execute("UPDATE backfills SET superseded_by = ? WHERE account = ? AND superseded_by IS NULL",
                    [new_id, account])
        columns = self.columns(con, "backfills")
        con.execute(f"INSERT INTO backfills ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    [backfill.get(c) for c in columns])
        return counts

    def current_backfill(self, account: str) -> dict[str, Any] | None:
        """The backfill of ``account`` whose rows are current, or None."""
        rows = self.query_dicts("SELECT * FROM backfills WHERE account = ? AND superseded_by IS NULL", [account])
        return rows[0] if rows else None

    # -- received events --------------------------------------------------------------------------------------------

    def record_event(self, row: dict[str, Any]) -> bool:
        """Store one received event (``history_events`` columns); False when its id was stored before (a
        redelivery), and nothing is written then."""
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM history_events WHERE event_id = ?", [row["event_id"]]).fetchone():
                return False
            insert_rows(con, "history_events", [row], self.columns(con, "history_events"))
        return True

    def pending_events(self, received_before: dt.datetime) -> list[dict[str, Any]]:
        """Events waiting to be applied that arrived before ``received_before``, per account in their own time order."""
        return self.query_dicts(
            "SELECT event_id, account, channel, kind, event_time, received_at, payload FROM history_events "
            "WHERE status = 'pending' AND received_at <= ? ORDER BY account, event_time, received_at, event_id",
            [received_before])

    def open_version_states(self, con: duckdb.DuckDBPyConnection, account: str) -> dict[str, dict[str, Any]]:
        """The open history row of each version of ``account`` (inside the caller's transaction)."""
        return {r["version_id"]: r for r in fetch_dicts(
            con, "SELECT * FROM version_history WHERE account = ? AND valid_to IS NULL AND superseded_by IS NULL",
            [account])}

    def version_refs(self, con: duckdb.DuckDBPyConnection, account: str) -> list[dict[str, Any]]:
        """Each catalog version of ``account``: id, model, number and registry id."""
        return fetch_dicts(con, "SELECT version_id, model, version, source_ref FROM versions WHERE account = ?",
                           [account])

    def replace_states(self, con: duckdb.DuckDBPyConnection, closes: list[tuple[str, dt.datetime, str]],
                       rows: list[dict[str, Any]]) -> None:
        """Close open rows (history id, when, by which event) and insert the rows that follow them."""
        for history_id, at, by in closes:
            con.execute("UPDATE version_history SET valid_to = ?, valid_to_source = 'source', closed_by_sync = ? "
                        "WHERE history_id = ? AND valid_to IS NULL", [at, by, history_id])
        insert_rows(con, "version_history", rows, self.columns(con, "version_history"))

    def mark_events(self, con: duckdb.DuckDBPyConnection, outcomes: list[tuple[str, str, str | None]],
                    applied_at: dt.datetime, ledger: tuple[int, str] | None) -> None:
        """Record how each event ended (id, status, detail), tied to the ledger entry that recorded them."""
        seq, digest = ledger if ledger is not None else (None, None)
        for event_id, status, detail in outcomes:
            con.execute("UPDATE history_events SET status = ?, detail = ?, applied_at = ?, ledger_seq = ?, "
                        "ledger_hash = ? WHERE event_id = ?", [status, detail, applied_at, seq, digest, event_id])

    def event_statuses(self) -> dict[str, int]:
        """How many received events ended in each status."""
        return {r["status"]: int(r["n"]) for r in self.query_dicts(
            "SELECT status, count(*) AS n FROM history_events GROUP BY status")}

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of ``sql`` as dicts (column name → value)."""
        with self.connect() as con:
            return fetch_dicts(con, sql, list(params))


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[dict[str, Any]],
                columns: Sequence[str]) -> None:
    """Insert ``rows`` (dicts; a column a row lacks is NULL) into ``table`` in one columnar insert (as the sync's
    history writes do: bound parameters cost DuckDB about 2 ms a row, an Arrow table a few ms for thousands)."""
    if not rows:
        return
    import pyarrow as pa

    data = {c: [_value(r.get(c)) for r in rows] for c in columns}
    con.from_arrow(pa.Table.from_pydict(data)).insert_into(table)


def _value(value: Any) -> Any:
    return to_json(value) if isinstance(value, dict | list) else value


def _ts(value: Any) -> dt.datetime | None:
    if value is None or value != value:  # None, or pandas' NaT
        return None
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def _json_list(text: str | None) -> list[str]:
    import json

    try:
        loaded = json.loads(text) if text else []
    except ValueError:
        return []
    return [str(x) for x in loaded] if isinstance(loaded, list) else []
