"""Promotion requests and their decisions: the rows, read into typed records, and the statements that change them.

The sign-off flow (:mod:`governance.promotion`) decides what may happen; this module only reads and writes rows.
Functions taking ``con`` run inside the caller's transaction, so a transition, its decision and its ledger entry
commit together.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb

from governance.catalog.connection import CatalogConnection
from governance.catalog.postgres import lock_row
from governance.catalog.records import fetch_column, fetch_dict, fetch_dicts, from_json

if TYPE_CHECKING:
    import pandas as pd

REQUEST_COLUMNS = (
    "request_id, version_id, model, from_env, to_env, target_account, requester, reason, status, created_at, "
    "updated_at, execution_state, execution_error, target_version_id, payload"
)
DECISION_COLUMNS = "decision_id, request_id, actor, kind, comment, created_at, expires_at, payload, ledger_hash"


def _payload_json(payload: Mapping[str, Any]) -> str:
    # how sign-off payloads have always been stored (not canonical JSON: dates as str())
    return json.dumps(payload, sort_keys=True, default=str)


@dataclass(frozen=True)
class Decision:
    """One recorded decision on a request: approve, reject, cancel or risk_acceptance."""

    decision_id: str
    request_id: str
    actor: str
    kind: str
    comment: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    payload: dict[str, Any]
    ledger_hash: str | None

    def expired(self, now: dt.datetime) -> bool:
        """Whether this (risk acceptance) decision has passed its expiry."""
        return self.expires_at is not None and self.expires_at <= now

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Decision:
        """A decision from a ``decisions`` row read by column name."""
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k != "payload"},
                   payload=from_json(row["payload"]) or {})


@dataclass(frozen=True)
class Request:
    """A promotion request with its decisions."""

    request_id: str
    version_id: str
    model: str
    from_env: str
    to_env: str
    target_account: str
    requester: str
    reason: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime | None
    execution_state: str | None
    execution_error: str | None
    target_version_id: str | None
    payload: dict[str, Any]
    decisions: tuple[Decision, ...] = field(default=())

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(d.actor for d in self.decisions if d.kind == "approve")

    @property
    def approvals_required(self) -> int:
        return int(self.payload.get("approvals_required", 1))

    @property
    def risk_acceptances(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.kind == "risk_acceptance")

    @property
    def skip(self) -> str | None:
        """``"dev->prod"`` when the request skips environments (a tier's ``allow_skip``), else None."""
        return self.payload.get("skip")

    @property
    def tier_approvals_required(self) -> int:
        """The tier's own approvals (a skip adds one on top: :attr:`approvals_required`)."""
        return int(self.payload.get("tier_approvals_required", self.approvals_required))

    @property
    def attempts(self) -> int:
        return int(self.payload.get("attempts", 0))

    @classmethod
    def from_row(cls, row: Mapping[str, Any], decisions: tuple[Decision, ...] = ()) -> Request:
        """A request from a ``promotion_requests`` row read by column name."""
        skip = ("payload", "decisions")
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k not in skip},
                   payload=from_json(row["payload"]) or {}, decisions=decisions)


@dataclass(frozen=True)
class RequestState:
    """Where a request stands, as re-read inside a transition's transaction."""

    status: str
    execution_state: str | None
    updated_at: dt.datetime | None
    target_version_id: str | None
    payload: dict[str, Any]


def read_request(con: duckdb.DuckDBPyConnection, request_id: str) -> Request | None:
    """The request with its decisions (oldest first), or None."""
    row = fetch_dict(con, f"SELECT {REQUEST_COLUMNS} FROM promotion_requests WHERE request_id = ?", [request_id])
    if row is None:
        return None
    decisions = fetch_dicts(
        con, f"SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id = ? ORDER BY created_at, decision_id",
        [request_id],
    )
    return Request.from_row(row, tuple(Decision.from_row(d) for d in decisions))


def request_state(con: duckdb.DuckDBPyConnection, request_id: str, *, lock: bool = False) -> RequestState | None:
    """The status, execution state, last update, target and payload of a request, or None.

    ``lock`` (inside a transaction): on PostgreSQL the row stays locked until the transaction ends, so two
    replicas changing the same request one after the other each see the other's outcome (compare and set).
    DuckDB has a single writer already.
    """
    if lock:
        lock_row(con, "promotion_requests", "request_id", request_id)
    row = fetch_dict(
        con,
        "SELECT status, execution_state, updated_at, target_version_id, payload FROM promotion_requests "
        "WHERE request_id = ?",
        [request_id],
    )
    if row is None:
        return None
    return RequestState(status=row["status"], execution_state=row["execution_state"], updated_at=row["updated_at"],
                        target_version_id=row["target_version_id"], payload=from_json(row["payload"]) or {})


def open_request_of_version(con: duckdb.DuckDBPyConnection, version_id: str, statuses: Sequence[str]) -> Request | None:
    """The oldest request of ``version_id`` (into any environment or account) in one of ``statuses``, or None
    (without its decisions)."""
    row = fetch_dict(
        con,
        f"SELECT {REQUEST_COLUMNS} FROM promotion_requests WHERE version_id = ? AND status IN (SELECT unnest(?)) "
        "ORDER BY created_at, request_id LIMIT 1",
        [version_id, list(statuses)],
    )
    return None if row is None else Request.from_row(row)


def insert_request(con: duckdb.DuckDBPyConnection, request: Request) -> None:
    """Write a new request row (its decisions are written separately)."""
    values = {k: getattr(request, k) for k in Request.__dataclass_fields__ if k != "decisions"}
    values["payload"] = _payload_json(request.payload)
    con.execute(
        f"INSERT INTO promotion_requests ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
        list(values.values()),
    )


def update_request(con: duckdb.DuckDBPyConnection, request_id: str, now: dt.datetime, **columns: Any) -> None:
    """Set ``columns`` of a request (a ``payload`` dict is stored as JSON) and its ``updated_at``."""
    unknown = set(columns) - set(REQUEST_COLUMNS.split(", "))
    if unknown:
        raise ValueError(f"promotion_requests has no column(s) {', '.join(sorted(unknown))}")
    if "payload" in columns:
        columns["payload"] = _payload_json(columns["payload"])
    sets = "".join(f"{k} = ?, " for k in columns)
    con.execute(f"UPDATE promotion_requests SET {sets}updated_at = ? WHERE request_id = ?",
                [*columns.values(), now, request_id])


def touch_executing(con: duckdb.DuckDBPyConnection, request_id: str, now: dt.datetime) -> None:
    """The heartbeat of a running execution: ``updated_at`` of the request, while it is still executing."""
    con.execute("UPDATE promotion_requests SET updated_at = ? WHERE request_id = ? AND status = 'executing'",
                [now, request_id])


def insert_decision(con: duckdb.DuckDBPyConnection, decision: Decision) -> None:
    """Write one decision row."""
    values = {k: getattr(decision, k) for k in Decision.__dataclass_fields__}
    values["payload"] = _payload_json(decision.payload)
    con.execute(f"INSERT INTO decisions ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                list(values.values()))


def approvers_of(con: duckdb.DuckDBPyConnection, request_id: str) -> set[str]:
    """The (lower-cased) emails that approved ``request_id`` so far."""
    return {a.lower() for a in fetch_column(
        con, "SELECT actor FROM decisions WHERE request_id = ? AND kind = 'approve'", [request_id])}


@dataclass(frozen=True)
class AcceptanceRow:
    """One recorded risk acceptance with the request it belongs to (the register of acceptances)."""

    decision_id: str
    request_id: str
    version_id: str
    model: str
    to_env: str
    target_account: str
    request_status: str
    actor: str
    comment: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    payload: dict[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AcceptanceRow:
        """An acceptance from a decisions-join-requests row read by column name."""
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k != "payload"},
                   payload=from_json(row["payload"]) or {})


class SignoffQueries(CatalogConnection):
    """Reads of requests and decisions for the queue, the reports and the audit pack."""

    def risk_acceptances(self) -> list[AcceptanceRow]:
        """Every recorded risk acceptance with its request, the soonest expiry first."""
        with self.connect() as con:
            rows = fetch_dicts(
                con,
                "SELECT d.decision_id, d.request_id, r.version_id, r.model, r.to_env, r.target_account, "
                "r.status AS request_status, d.actor, d.comment, d.created_at, d.expires_at, d.payload "
                "FROM decisions d JOIN promotion_requests r ON r.request_id = d.request_id "
                "WHERE d.kind = 'risk_acceptance' ORDER BY d.expires_at NULLS LAST, d.created_at, d.decision_id",
            )
        return [AcceptanceRow.from_row(r) for r in rows]

    def requests_in(self, statuses: Sequence[str]) -> list[Request]:
        """The requests in one of ``statuses`` with their decisions, oldest first."""
        with self.connect() as con:
            ids = fetch_column(
                con, "SELECT request_id FROM promotion_requests WHERE status IN (SELECT unnest(?)) "
                "ORDER BY created_at, request_id", [list(statuses)])
            return [r for r in (read_request(con, i) for i in ids) if r is not None]

    def request(self, request_id: str) -> Request | None:
        """The request ``request_id`` with its decisions, or None."""
        with self.connect() as con:
            return read_request(con, request_id)

    def request_queue(self, *, statuses: Sequence[str] = (), model: str | None = None) -> pd.DataFrame:
        """Requests (newest first) with their approval count, for the queue."""
        where, params = ["TRUE"], []
        if statuses:
            where.append("r.status IN (SELECT unnest(?))")
            params.append(list(statuses))
        if model:
            where.append("r.model = ?")
            params.append(model)
        return self.query_df(
            f"""
            SELECT r.request_id, r.version_id, r.model, r.from_env, r.to_env, r.target_account, r.requester,
                   r.status, r.execution_state, r.created_at, r.updated_at, r.target_version_id, r.reason,
                   count(d.decision_id) FILTER (WHERE d.kind = 'approve') AS approvals,
                   coalesce(TRY_CAST(json_extract_string(r.payload, '$.approvals_required') AS INTEGER), 1)
                       AS approvals_required,
                   json_extract_string(r.payload, '$.skip') AS skip,
                   string_agg(d.actor, ', ' ORDER BY d.created_at) FILTER (WHERE d.kind = 'approve') AS approvers,
                   count(d.decision_id) FILTER (WHERE d.kind = 'risk_acceptance') AS risk_acceptances
            FROM promotion_requests r LEFT JOIN decisions d ON d.request_id = r.request_id
            WHERE {' AND '.join(where)}
            GROUP BY r.request_id, r.version_id, r.model, r.from_env, r.to_env, r.target_account, r.requester,
                     r.status, r.execution_state, r.created_at, r.updated_at, r.target_version_id, r.reason,
                     approvals_required, skip
            ORDER BY r.created_at DESC, r.request_id DESC
            """,
            params,
        )

    def decisions_of(self, request_id: str, kinds: Sequence[str]) -> list[Decision]:
        """The decisions of ``request_id`` of ``kinds`` (e.g. approve, reject), oldest first."""
        with self.connect() as con:
            rows = fetch_dicts(
                con,
                f"SELECT {DECISION_COLUMNS} FROM decisions WHERE request_id = ? AND kind IN (SELECT unnest(?)) "
                "ORDER BY created_at, decision_id",
                [request_id, list(kinds)],
            )
        return [Decision.from_row(r) for r in rows]

    def newest_request_id(self, version_id: str, status: str) -> str | None:
        """The id of the newest request of ``version_id`` in ``status``, or None."""
        with self.connect() as con:
            found = fetch_column(
                con,
                "SELECT request_id FROM promotion_requests WHERE version_id = ? AND status = ? "
                "ORDER BY created_at DESC LIMIT 1",
                [version_id, status],
            )
        return str(found[0]) if found else None

    def signoff_trail(
        self, version_ids: Sequence[str], *, leave_out_actions: Sequence[str] = ()
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Requests of the versions, their decisions, and the ledger entries about either (one connection).

        Rows as dicts by column name (JSON columns as stored), oldest first; ledger entries whose action is in
        ``leave_out_actions`` are left out.
        """
        with self.connect() as con:
            requests = fetch_dicts(
                con,
                "SELECT * FROM promotion_requests WHERE version_id IN (SELECT unnest(?)) ORDER BY created_at, request_id",
                [list(version_ids)],
            )
            request_ids = [r["request_id"] for r in requests]
            decisions = fetch_dicts(
                con,
                "SELECT * FROM decisions WHERE request_id IN (SELECT unnest(?)) ORDER BY created_at, decision_id",
                [request_ids],
            )
            # Subjects name their object as "request:R-1", "version:acct:model:3" or bare: match the whole id at the end.
            needles = sorted({*version_ids, *request_ids})
            ledger = fetch_dicts(
                con,
                "SELECT seq, recorded_at, actor, action, subject, payload, prev_hash, hash FROM ledger "
                "WHERE (len(list_filter(?, lambda n: subject = n OR ends_with(subject, ':' || n))) > 0 "
                "OR hash IN (SELECT unnest(?))) AND action NOT IN (SELECT unnest(?)) ORDER BY seq",
                [needles, [d["ledger_hash"] for d in decisions if d.get("ledger_hash")], list(leave_out_actions)],
            )
        return requests, decisions, ledger
