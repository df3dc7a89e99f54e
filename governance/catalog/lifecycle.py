"""Fallback plans, incidents and model card edits: the rows behind :mod:`governance.fallback`,
:mod:`governance.incidents` and :mod:`governance.cards` (migration 9).

Every table here is insert-only: a plan's or an incident's state is replayed from its events, and each row is
written in the same transaction as its ledger entry (the services call :func:`insert` inside it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from governance.catalog.connection import CatalogConnection
from governance.catalog.records import fetch_dicts, from_json, to_json

COLUMNS: dict[str, tuple[str, ...]] = {
    "fallback_plans": ("plan_id", "model", "environment", "kind", "protects", "fallback_version_id", "fallback_sha256",
                       "business_process", "reason", "tier", "approvals_required", "proposed_by", "proposed_at",
                       "ledger_hash"),
    "fallback_events": ("event_id", "plan_id", "kind", "actor", "happened_at", "outcome", "comment", "detail",
                        "review_due", "ledger_hash"),
    "incidents": ("incident_id", "version_id", "model", "title", "description", "occurred_at", "aware_at", "impact",
                  "severity", "serious", "serious_kind", "deadlines", "recorded_by", "recorded_at", "ledger_hash"),
    "incident_events": ("event_id", "incident_id", "kind", "actor", "happened_at", "text", "detail", "ledger_hash"),
    "card_edits": ("edit_id", "model", "fields", "changed", "registry", "editor", "edited_at", "comment",
                   "ledger_hash"),
    "card_writebacks": ("writeback_id", "edit_id", "model", "account", "target", "status", "detail", "actor",
                        "happened_at",
                        "ledger_hash"),
}
JSON_COLUMNS = frozenset({"detail", "deadlines", "fields", "changed", "registry"})
ORDER = {
    "fallback_plans": "proposed_at, plan_id", "fallback_events": "happened_at, event_id",
    "incidents": "recorded_at, incident_id", "incident_events": "happened_at, event_id",
    "card_edits": "edited_at, edit_id", "card_writebacks": "happened_at, writeback_id",
}


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: from_json(v) if k in JSON_COLUMNS else v for k, v in row.items()}


class LifecycleStore(CatalogConnection):
    """Reads and inserts of the lifecycle tables (fallback plans and events, incidents and events, card edits)."""

    @staticmethod
    def insert_lifecycle_row(con: duckdb.DuckDBPyConnection, table: str, row: Mapping[str, Any]) -> None:
        """Write one row of ``table`` inside the caller's transaction (with its ledger entry); JSON columns take
        Python values."""
        columns = COLUMNS[table]
        values = [to_json(row.get(c)) if c in JSON_COLUMNS else row.get(c) for c in columns]
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values)

    def lifecycle_rows(self, table: str, where: Mapping[str, Any] | None = None, *,
                       con: duckdb.DuckDBPyConnection | None = None) -> list[dict[str, Any]]:
        """The rows of ``table`` matching every ``column = value`` of ``where``, oldest first (on ``con`` when
        given: read inside the caller's transaction)."""
        columns = COLUMNS[table]
        items = sorted((where or {}).items())
        bad = [k for k, _ in items if k not in columns]
        if bad:
            raise ValueError(f"{table} has no column {bad[0]!r}")
        clause = " AND ".join(f"{k} = ?" for k, _ in items) or "TRUE"
        sql = f"SELECT {', '.join(columns)} FROM {table} WHERE {clause} ORDER BY {ORDER[table]}"
        params: Sequence[Any] = [v for _, v in items]
        if con is not None:
            return [_decoded(r) for r in fetch_dicts(con, sql, params)]
        with self.connect() as own:
            return [_decoded(r) for r in fetch_dicts(own, sql, params)]

    def ledger_entry_recorded_at(self, actions: Sequence[str], sha256: str) -> Any:
        """When the first ledger entry of one of ``actions`` naming the file ``sha256`` was recorded, or None (the
        retention of an export counts from it, whatever the file's own date says)."""
        with self.connect() as con:
            row = con.execute("SELECT min(recorded_at) FROM ledger WHERE action IN (SELECT unnest(?)) "
                              "AND json_extract_string(payload, '$.sha256') = ?", [list(actions), sha256]).fetchone()
        return row[0] if row else None
