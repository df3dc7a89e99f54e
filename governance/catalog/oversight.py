"""Periodic reviews, triggered reviews and sent notifications: the rows behind :mod:`governance.oversight` and
:mod:`governance.notify`.

Those modules decide what is due and whom to tell; this one only reads and writes their tables (migrations 3, 6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from governance.catalog.connection import CatalogConnection
from governance.catalog.records import fetch_dicts, from_json

REVIEW_COLUMNS = ("review_id", "version_id", "model", "reviewer", "outcome", "comment", "reviewed_at", "tier",
                  "evidence", "gates", "ledger_hash")
TRIGGER_COLUMNS = ("trigger_id", "version_id", "model", "kind", "gate", "reason", "figure", "threshold", "columns",
                   "evidence", "breach_key", "triggered_at", "triggered_by", "ledger_hash")
NOTIFICATION_COLUMNS = ("notification_id", "event_key", "kind", "subject", "channel", "recipient", "status", "error",
                        "attempted_at", "title")


def _review_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "evidence": from_json(row["evidence"]) or {}, "gates": tuple(from_json(row["gates"]) or ())}


class OversightStore(CatalogConnection):
    """Reads and writes of ``periodic_reviews`` and ``notifications``."""

    def periodic_reviews(self, *, version_id: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        """Periodic reviews (of one version or model) as rows by column name, newest first."""
        where, params = ["TRUE"], []
        if version_id:
            where.append("version_id = ?")
            params.append(version_id)
        if model:
            where.append("model = ?")
            params.append(model)
        with self.connect() as con:
            rows = fetch_dicts(con, f"SELECT {', '.join(REVIEW_COLUMNS)} FROM periodic_reviews "
                                    f"WHERE {' AND '.join(where)} ORDER BY reviewed_at DESC, review_id DESC", params)
        return [_review_row(r) for r in rows]

    def latest_periodic_reviews(self) -> tuple[list[dict[str, Any]], dict[str, dt.datetime]]:
        """The newest review of each version, and when Countersign's executed promotions put versions in place."""
        with self.connect() as con:
            rows = fetch_dicts(con, f"SELECT {', '.join(REVIEW_COLUMNS)} FROM (SELECT *, row_number() OVER "
                                    "(PARTITION BY version_id ORDER BY reviewed_at DESC, review_id DESC) AS rn "
                                    "FROM periodic_reviews) WHERE rn = 1")
            signed = {r["target_version_id"]: r["at"] for r in fetch_dicts(
                con, "SELECT target_version_id, max(updated_at) AS at FROM promotion_requests "
                     "WHERE status = 'executed' AND target_version_id IS NOT NULL GROUP BY 1")}
        return [_review_row(r) for r in rows], signed

    @staticmethod
    def insert_periodic_review(con: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
        """Write one review inside the caller's transaction (with its ledger entry)."""
        con.execute(f"INSERT INTO periodic_reviews ({', '.join(REVIEW_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(REVIEW_COLUMNS))})", [row[c] for c in REVIEW_COLUMNS])

    def triggered_reviews(self, *, version_id: str | None = None) -> list[dict[str, Any]]:
        """Triggered reviews (of one version) as rows by column name, newest first."""
        where, params = ("WHERE version_id = ?", [version_id]) if version_id else ("", [])
        with self.connect() as con:
            rows = fetch_dicts(con, f"SELECT {', '.join(TRIGGER_COLUMNS)} FROM triggered_reviews {where} "
                                    "ORDER BY triggered_at DESC, trigger_id", params)
        return [{**r, "columns": tuple(from_json(r["columns"]) or ()), "evidence": tuple(from_json(r["evidence"]) or ())}
                for r in rows]

    @staticmethod
    def trigger_exists(con: duckdb.DuckDBPyConnection, trigger_id: str) -> bool:
        """Whether ``trigger_id`` is recorded (read inside the caller's transaction, before inserting it)."""
        return bool(con.execute("SELECT count(*) FROM triggered_reviews WHERE trigger_id = ?", [trigger_id]).fetchone()[0])

    @staticmethod
    def insert_triggered_review(con: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> None:
        """Write one triggered review inside the caller's transaction (with its ledger entry)."""
        con.execute(f"INSERT INTO triggered_reviews ({', '.join(TRIGGER_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(TRIGGER_COLUMNS))})", [row[c] for c in TRIGGER_COLUMNS])

    def last_notifications_sent(self) -> dict[tuple[str, str, str], dt.datetime]:
        """(event key, channel, recipient) → when it was last sent successfully."""
        with self.connect() as con:
            rows = fetch_dicts(con, "SELECT event_key, channel, recipient, max(attempted_at) AS at FROM notifications "
                                    "WHERE status = 'sent' GROUP BY event_key, channel, recipient")
        return {(r["event_key"], r["channel"], r["recipient"]): r["at"] for r in rows}

    def insert_notifications(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Record notification attempts (sent and failed) in one transaction."""
        if not rows:
            return
        with self.transaction() as con:
            con.executemany(f"INSERT INTO notifications ({', '.join(NOTIFICATION_COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(NOTIFICATION_COLUMNS))})",
                            [[r[c] for c in NOTIFICATION_COLUMNS] for r in rows])

    def notification_log(self, *, limit: int = 200) -> list[dict[str, Any]]:
        """The newest notification attempts, newest first."""
        with self.connect() as con:
            return fetch_dicts(con, f"SELECT {', '.join(NOTIFICATION_COLUMNS)} FROM notifications "
                                    "ORDER BY attempted_at DESC, notification_id LIMIT ?", [limit])
