"""Reads of the catalog: the inventory, models, versions, lineage, deployments, cards and sync status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from connectors.naming import META_TWIN_REF, TAG_COLLECTIONS
from core.canonical import record_hash
from core.errors import InputError, NotFound
from governance.catalog.connection import CatalogConnection
from governance.catalog.records import (
    InventoryFilter,
    Model,
    Version,
    fetch_column,
    fetch_dict,
    fetch_dicts,
    from_json,
    table_columns,
)

if TYPE_CHECKING:
    import pandas as pd


_MODELS_SQL = """
    SELECT m.name, m.owner, m.risk_tier, m.intended_use, m.description,
           count(v.version_id) AS versions,
           string_agg(DISTINCT v.environment, ', ' ORDER BY v.environment) AS environments,
           max(v.created_at) AS latest_version_at
    FROM models m LEFT JOIN versions v ON v.model = m.name
    GROUP BY m.name, m.owner, m.risk_tier, m.intended_use, m.description ORDER BY m.name
"""


class CatalogQueries(CatalogConnection):
    """What the pages, the CLI and the reports read from the catalog."""

    def inventory(self, flt: InventoryFilter = InventoryFilter(), environment_order: Sequence[str] = ()) -> pd.DataFrame:
        """Every version across accounts with its model, deployments and sync freshness.

        Sorted by model, then environment in ``environment_order`` (promotion order), then newest version first.
        """
        with self.connect() as con:
            df = con.execute(*_inventory_query(flt, environment_order)).df()
            twins = _twins(con)
        df["labels"] = df["labels"].map(lambda text: list(from_json(text) or []))  # registry labels, sorted
        df["collections"] = df.pop("model_tags").map(_collections)
        carries = df["deployed_on"].notna() | df["labels"].map(bool)
        pairs = _twin_pairs(list(zip(df["version_id"], df["source_ref"], carries, strict=True)), twins)
        df["twin_version_id"] = df["version_id"].map(pairs)
        return df[~df["version_id"].isin(set(pairs.values()))].reset_index(drop=True)

    def inventory_rows(self, flt: InventoryFilter = InventoryFilter(),
                       environment_order: Sequence[str] = ()) -> list[dict[str, Any]]:
        """:meth:`inventory` as plain dicts, without pandas (the CLI's listing starts faster)."""
        with self.connect() as con:
            rows = fetch_dicts(con, *_inventory_query(flt, environment_order))
            twins = _twins(con)
        for row in rows:
            row["labels"] = list(from_json(row["labels"]) or [])
        pairs = _twin_pairs([(r["version_id"], r["source_ref"], r["deployed_on"] is not None or bool(r["labels"]))
                             for r in rows], twins)
        for row in rows:
            row["collections"] = _collections(row.pop("model_tags"))
            row["twin_version_id"] = pairs.get(row["version_id"])
        hidden = set(pairs.values())
        return [r for r in rows if r["version_id"] not in hidden]

    def filter_values(self) -> dict[str, list[str]]:
        """Distinct values for the inventory filters."""
        with self.connect() as con:
            def col(sql: str) -> list[str]:
                return [v for v in fetch_column(con, sql) if v is not None]

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
        return self.query_df(_MODELS_SQL)

    def models_rows(self) -> list[dict[str, Any]]:
        """:meth:`models` as plain dicts, without pandas."""
        with self.connect() as con:
            return fetch_dicts(con, _MODELS_SQL)

    def model(self, name: str) -> Model:
        """The model called ``name``."""
        with self.connect() as con:
            row = fetch_dict(con, f"SELECT {Model.COLUMNS} FROM models WHERE name = ?", [name])
            if row is None:
                known = fetch_column(con, "SELECT name FROM models ORDER BY 1 LIMIT 20")
        if row is None:
            raise NotFound(f"unknown model {name!r} (known: {', '.join(known) or 'none — run countersign sync'})")
        return Model.from_row(row)

    def version(self, version_id: str) -> Version:
        """The version with catalog id ``version_id`` (``account:model:version``)."""
        with self.connect() as con:
            row = fetch_dict(con, f"SELECT {Version.COLUMNS} FROM versions WHERE version_id = ?", [version_id])
        if row is None:
            raise NotFound(f"unknown version {version_id!r}: expected ACCOUNT:MODEL:VERSION as listed by 'countersign models'")
        return Version.from_row(row)

    def find_version(self, model: str, version: int | str, environment: str | None = None) -> Version:
        """A version by model name and number (newest environment first when several accounts hold it)."""
        try:
            number = int(version)
        except (TypeError, ValueError):
            raise InputError(f"version must be a number, got {version!r}") from None
        sql = f"SELECT {Version.COLUMNS} FROM versions WHERE model = ? AND version = ?"
        params: list[Any] = [model, number]
        if environment:
            sql += " AND environment = ?"
            params.append(environment)
        with self.connect() as con:
            rows = fetch_dicts(con, sql + " ORDER BY created_at DESC", params)
        if not rows:
            self.model(model)  # raises NotFound for an unknown model
            where = f" in {environment}" if environment else ""
            raise NotFound(f"model {model!r} has no version {number}{where}")
        return Version.from_row(rows[0])

    def versions_of(self, model: str) -> list[Version]:
        """All versions of ``model`` across accounts."""
        with self.connect() as con:
            rows = fetch_dicts(
                con, f"SELECT {Version.COLUMNS} FROM versions WHERE model = ? ORDER BY environment, version", [model]
            )
        return [Version.from_row(r) for r in rows]

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
            return fetch_column(
                con,
                """
                WITH RECURSIVE d(id) AS (
                    SELECT version_id FROM versions WHERE source_version_id = ?
                    UNION SELECT v.version_id FROM versions v JOIN d ON v.source_version_id = d.id
                ) SELECT id FROM d ORDER BY id
                """,
                [version_id],
            )

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run as a dict, or None."""
        with self.connect() as con:
            out = fetch_dict(con, "SELECT * FROM runs WHERE run_id = ?", [run_id])
        if out is None:
            return None
        for k in ("params", "metrics", "inputs", "raw"):
            out[k] = from_json(out[k]) or {}
        return out

    def deployments(self, model: str | None = None) -> pd.DataFrame:
        """Deployments, optionally of one model, with the served version's approval status."""
        return self.query_df(*_deployments_query(model))

    def deployment_rows(self, model: str | None = None) -> list[dict[str, Any]]:
        """:meth:`deployments` as dicts."""
        return self.query_dicts(*_deployments_query(model))

    def model_card(self, model: str) -> dict[str, Any] | None:
        """The newest model card of ``model`` across accounts, as a dict."""
        with self.connect() as con:
            row = fetch_dict(
                con,
                "SELECT card_id, account, status, content, updated_at FROM model_cards WHERE model = ? "
                "ORDER BY updated_at DESC NULLS LAST, card_id LIMIT 1",
                [model],
            )
        if row is None:
            return None
        return {**row, "content": from_json(row["content"]) or {}}

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
        """A sha256 over the content of ``tables`` (ordered, without sync and observation timestamps): equal content,
        equal digest."""
        parts = []
        with self.connect() as con:
            for t in tables:
                cols = [c for c in table_columns(con, t) if c not in ("synced_at", "updated_at", "artifact_digest_at")]
                # the first column is each table's primary key: the same order as DuckDB's ORDER BY ALL
                rows = con.execute(f"SELECT {', '.join(cols)} FROM {t} ORDER BY {cols[0]}").fetchall()
                parts.append([t, cols, rows])
        return record_hash(parts)

    def promoted_copy(self, source_version_id: str, account: str) -> Version | None:
        """The version in ``account`` promoted from ``source_version_id`` (the lowest number), or None."""
        with self.connect() as con:
            row = fetch_dict(
                con,
                f"SELECT {Version.COLUMNS} FROM versions WHERE account = ? AND source_version_id = ? "
                "ORDER BY version LIMIT 1",
                [account, source_version_id],
            )
        return None if row is None else Version.from_row(row)

    def promotion_ledger_entries(self, before: dt.datetime | None = None) -> list[dict[str, Any]]:
        """The ledger entries that create and execute promotion requests (``request.create``, ``execute.done``)
        and executed fallbacks (``fallback.executed``), recorded by ``before`` (None: all), oldest first: ``seq``,
        ``recorded_at``, ``action``, ``subject``, ``payload`` (the JSON text as recorded)."""
        sql = ("SELECT seq, recorded_at, action, subject, payload FROM ledger "
               "WHERE action IN ('request.create', 'execute.done', 'fallback.executed')")
        params: list[Any] = []
        if before is not None:
            sql += " AND recorded_at <= ?"
            params.append(before)
        with self.connect() as con:
            return fetch_dicts(con, sql + " ORDER BY seq", params)

    # Each table names the model differently: (where, its parameters from model and version ids, order by).
    _MODEL_ROWS: ClassVar[dict[str, tuple[str, str, str]]] = {
        "models": ("name = ?", "model", "name"),
        "versions": ("model = ?", "model", "version_id"),
        "runs": ("run_id IN (SELECT run_id FROM versions WHERE model = ?)", "model", "run_id"),
        "deployments": ("model = ? OR version_id IN (SELECT unnest(?))", "model+ids", "deployment_id"),
        "model_cards": ("model = ?", "model", "card_id"),
        "evidence": ("version_id IN (SELECT unnest(?))", "ids", "evidence_id"),
        "promotion_requests": ("model = ?", "model", "request_id"),
        "decisions": ("request_id IN (SELECT request_id FROM promotion_requests WHERE model = ?)", "model",
                      "decision_id"),
        # the rest of the lifecycle (migration 9): fallback plans, incidents, model card edits
        "fallback_plans": ("model = ?", "model", "plan_id"),
        "fallback_events": ("plan_id IN (SELECT plan_id FROM fallback_plans WHERE model = ?)", "model", "event_id"),
        "incidents": ("model = ?", "model", "incident_id"),
        "incident_events": ("incident_id IN (SELECT incident_id FROM incidents WHERE model = ?)", "model",
                            "event_id"),
        "card_edits": ("model = ?", "model", "edit_id"),
        "card_writebacks": ("model = ?", "model", "writeback_id"),
    }

    def model_rows(self, table: str, model: str, version_ids: Sequence[str]) -> pd.DataFrame:
        """Every row of ``table`` about ``model`` (or its versions ``version_ids``), as stored, ordered by key."""
        if table not in self._MODEL_ROWS:
            raise InputError(f"no model rows of table {table!r} (known: {', '.join(self._MODEL_ROWS)})")
        where, binds, order = self._MODEL_ROWS[table]
        params = {"model": [model], "ids": [list(version_ids)], "model+ids": [model, list(version_ids)]}[binds]
        return self.query_df(f"SELECT * FROM {table} WHERE {where} ORDER BY {order}", params)

    def ledger_slice(self, needles: Sequence[str]) -> pd.DataFrame:
        """Ledger rows from the first entry whose subject contains one of ``needles`` to the head, in order."""
        return self.query_df(
            "SELECT * FROM ledger WHERE seq >= (SELECT coalesce(min(seq), 1) FROM ledger "
            "WHERE len(list_filter(?, lambda n: contains(coalesce(subject, ''), n))) > 0) ORDER BY seq",
            [list(needles)],
        )

    def ledger_entry_for_file(self, actions: Sequence[str], sha256: str) -> dict[str, Any] | None:
        """The first ledger entry of one of ``actions`` whose payload names the file ``sha256``, or None.

        Its ``subject`` and ``payload`` (the JSON text as recorded), by name.
        """
        with self.connect() as con:
            return fetch_dict(
                con,
                "SELECT subject, payload FROM ledger WHERE action IN (SELECT unnest(?)) "
                "AND json_extract_string(payload, '$.sha256') = ? ORDER BY seq LIMIT 1",
                [list(actions), sha256],
            )



def _twins(con: Any) -> dict[str, str]:
    """The registry entries that mirror a version (their ``source_ref``) → that version's id."""
    rows = fetch_dicts(con, "SELECT version_id, metadata FROM versions WHERE CAST(metadata AS VARCHAR) LIKE ?",
                       [f"%{META_TWIN_REF}%"])
    return {ref: r["version_id"] for r in rows if (ref := (from_json(r["metadata"]) or {}).get(META_TWIN_REF))}


def _twin_pairs(rows: Sequence[tuple[str, str, bool]], twins: dict[str, str]) -> dict[str, str]:
    """Kept version id → the id of its twin, whose line goes. A line carrying a deployment or a registry label is
    never the one hidden (the binding check reads each line): of two bare twins the version naming its twin stays,
    of one carrying and one bare the carrying one, and two carrying lines both stay."""
    carries = {vid: bool(flag) for vid, _, flag in rows}
    pairs = {}
    for vid, ref, _ in rows:
        named_by = twins.get(ref)
        if named_by is None or named_by == vid or named_by not in carries:
            continue
        if carries[vid] and carries[named_by]:
            continue
        pairs.update({vid: named_by} if carries[vid] else {named_by: vid})
    return pairs


def _collections(tags: Any) -> list[str]:
    text = (from_json(tags) or {}).get(TAG_COLLECTIONS) if tags else None
    return [p.strip() for p in str(text).split(";") if p.strip()] if text else []


def _inventory_query(flt: InventoryFilter, environment_order: Sequence[str]) -> tuple[str, list[Any]]:
    """The inventory's SQL and parameters (one query for the frame and the rows)."""
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
        SELECT v.version_id, v.model, v.version, v.environment, v.labels, v.account, v.approval_status,
               m.risk_tier, m.owner, v.created_by, v.created_at, dep.deployed_on,
               coalesce(dep.serving, FALSE) AS serving,
               coalesce(dep.serving, FALSE) AND v.approval_status <> 'Approved' AS unapproved_deployment,
               v.source_version_id, v.metrics, fresh.last_sync,
               signed.version_id IS NOT NULL AS approved_in_countersign, v.artifact_sha256,
               v.source_ref, m.tags AS model_tags
        FROM versions v
        LEFT JOIN models m ON m.name = v.model
        LEFT JOIN dep ON dep.version_id = v.version_id
        LEFT JOIN fresh ON fresh.account = v.account
        LEFT JOIN signed ON signed.version_id = v.version_id
        WHERE {' AND '.join(where)}
        ORDER BY v.model, coalesce(list_position(?, v.environment), 999), v.environment, v.version DESC, v.account
    """
    return sql, [*params, list(environment_order)]


def _deployments_query(model: str | None) -> tuple[str, list[Any]]:
    sql = """
        SELECT d.deployment_id, d.account, d.environment, d.endpoint, d.variant, d.status, d.model,
               d.version_id, v.version, v.approval_status, d.weight, d.updated_at
        FROM deployments d LEFT JOIN versions v ON v.version_id = d.version_id
    """
    params: list[Any] = []
    if model:
        sql += " WHERE d.model = ?"
        params.append(model)
    return sql + " ORDER BY d.environment, d.endpoint", params
