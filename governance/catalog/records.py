"""Typed records of catalog rows, and the small helpers every catalog module shares.

Rows are read by column name (:func:`fetch_dicts`, :func:`fetch_dict`) and turned into frozen dataclasses here,
never unpacked by position, so a column added or reordered by a migration cannot shift a value into the wrong field.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from core.canonical import canonical_json
from core.structs import Row, field


def naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    """``value`` as naive UTC (how the catalog stores times)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def to_json(value: Any) -> str | None:
    """A value as the canonical JSON text stored in a JSON column (None stays NULL)."""
    return None if value is None else canonical_json(value)


def from_json(value: Any) -> Any:
    """A JSON column's value as Python (DuckDB hands JSON back as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return json.loads(value)
    return value


def upsert_sql(table: str, columns: Sequence[str], key: Sequence[str], values: str | None = None) -> str:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` of every other column: DuckDB's ``INSERT OR REPLACE`` in SQL that
    PostgreSQL runs too. ``values`` is the VALUES list (default: one ``?`` per column)."""
    values = values or ", ".join("?" for _ in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of a catalog table in their order."""
    # the columns of an empty result: a fifth of the cost of asking information_schema (sync writes ask often)
    return [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Run ``sql`` and return its rows as dicts keyed by column name."""
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def fetch_dict(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> dict[str, Any] | None:
    """The first row of ``sql`` as a dict keyed by column name, or None."""
    cur = con.execute(sql, params or [])
    row = cur.fetchone()
    return None if row is None else dict(zip([d[0] for d in cur.description], row, strict=True))


def fetch_column(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> list[Any]:
    """The values of the one column ``sql`` selects."""
    cur = con.execute(sql, params or [])
    if len(cur.description) != 1:
        raise ValueError(f"fetch_column needs a query of one column, got {len(cur.description)}")
    return [row[0] for row in cur.fetchall()]


class SyncCounts(Row):
    """What one snapshot changed in the catalog."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    by_table: dict[str, dict[str, int]] = field(default_factory=dict)
    # versions the account holds once the sync committed (an incremental sync reads only what changed, so
    # ``unchanged`` counts the rows it read, not what the account holds)
    held: int = 0


class SyncMark(Row):
    """Where an account's syncs stand: the newest successful sync's watermark, the start of the last full pass."""

    watermark: str | None
    last_full_at: dt.datetime | None


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
    # registry labels (an MLflow alias, a ZenML stage), sorted
    labels: tuple[str, ...] = ()
    # where artifact_sha256 comes from: "countersign" (its own reading of the bytes) | "registry" | None (unknown)
    artifact_digest_source: str | None = None
    # when Countersign read the bytes that gave artifact_sha256 (naive UTC)
    artifact_digest_at: dt.datetime | None = None
    # why the bytes could not be read, one line (a gate that needs a digest fails closed then)
    artifact_digest_problem: str | None = None

    COLUMNS = (
        "version_id, account, environment, model, version, source_ref, approval_status, approval_description, "
        "created_at, created_by, modified_at, artifact_uri, artifact_sha256, framework, image, data_uris, "
        "report_uris, metrics, metadata, run_id, source_version_id, model_card_id, raw, labels, "
        "artifact_digest_source, artifact_digest_at, artifact_digest_problem"
    )
    _JSON = ("data_uris", "report_uris", "metrics", "metadata", "raw")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Version:
        """A version from a ``versions`` row read by column name."""
        names = [k for k in cls.__dataclass_fields__ if k != "labels"]
        values = {k: (from_json(row[k]) or {}) if k in cls._JSON else row[k] for k in names}
        return cls(**values, labels=tuple(from_json(row.get("labels")) or ()))


class Model(Row):
    """One logical model across accounts."""

    name: str
    description: str | None
    owner: str | None
    risk_tier: str | None
    intended_use: str | None
    tags: dict[str, str]

    COLUMNS = "name, description, owner, risk_tier, intended_use, tags"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Model:
        """A model from a ``models`` row read by column name."""
        return cls(name=row["name"], description=row["description"], owner=row["owner"], risk_tier=row["risk_tier"],
                   intended_use=row["intended_use"], tags=from_json(row["tags"]) or {})


class InventoryFilter(Row):
    """Filters of the inventory listing; empty values mean 'any'."""

    environments: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    risk_tiers: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    text: str = ""
    model: str | None = None
