"""Stored analytics evidence: rows only ever inserted (``ON CONFLICT DO NOTHING`` on a key derived from their inputs).

The JSON columns are handed back as stored; :mod:`governance.analytics.evidence` reads them into typed results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from governance.catalog.connection import CatalogConnection
from governance.catalog.records import fetch_column, fetch_dicts, from_json

EVIDENCE_COLUMNS = (
    "evidence_id, kind, version_id, input_hash, config_hash, result, summary, software, inputs, computed_at, "
    "computed_by"
)
_JSON = ("result", "summary", "software", "inputs")


@dataclass(frozen=True)
class EvidenceRecord:
    """One ``evidence`` row, its JSON columns parsed (an empty dict where NULL)."""

    evidence_id: str
    kind: str
    version_id: str | None
    input_hash: str
    config_hash: str
    result: dict[str, Any]
    summary: dict[str, Any]
    software: dict[str, Any]
    computed_at: dt.datetime
    computed_by: str
    inputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EvidenceRecord:
        """A record from an ``evidence`` row read by column name."""
        return cls(**{k: (from_json(row[k]) or {}) if k in _JSON else row[k] for k in cls.__dataclass_fields__})


class EvidenceStore(CatalogConnection):
    """Writes and reads of the ``evidence`` table."""

    def insert_evidence(self, *, evidence_id: str, kind: str, version_id: str | None, input_hash: str,
                        config_hash: str, result: str, summary: str, software: str, inputs: str,
                        computed_at: dt.datetime, computed_by: str) -> None:
        """Insert one evidence row (JSON columns as canonical JSON text); an existing row with that id wins."""
        values = {"evidence_id": evidence_id, "kind": kind, "version_id": version_id, "input_hash": input_hash,
                  "config_hash": config_hash, "result": result, "summary": summary, "software": software,
                  "inputs": inputs, "computed_at": computed_at, "computed_by": computed_by}
        with self.transaction() as con:
            con.execute(
                f"INSERT INTO evidence ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)}) "
                "ON CONFLICT DO NOTHING",
                list(values.values()),
            ).fetchall()

    def evidence_record(self, evidence_id: str) -> EvidenceRecord | None:
        """The evidence row ``evidence_id``, or None."""
        with self.connect() as con:
            rows = fetch_dicts(con, f"SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE evidence_id = ?", [evidence_id])
        return EvidenceRecord.from_row(rows[0]) if rows else None

    def latest_evidence_record(self, version_id: str, kind: str, *,
                               without_input_uri_prefix: str | None = None) -> EvidenceRecord | None:
        """The newest evidence of ``kind`` for ``version_id``; optionally none whose inputs name a uri with that prefix."""
        # inputs are canonical JSON (no spaces), so an input's uri reads exactly "uri":"<prefix>…
        skip = ("" if without_input_uri_prefix is None
                else "AND CAST(inputs AS VARCHAR) NOT LIKE ? ")
        params: list[Any] = [version_id, kind]
        if without_input_uri_prefix is not None:
            params.append(f'%"uri":"{without_input_uri_prefix}%')
        with self.connect() as con:
            rows = fetch_dicts(
                con,
                f"SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE version_id = ? AND kind = ? {skip}"
                "ORDER BY computed_at DESC, evidence_id DESC LIMIT 1",
                params,
            )
        return EvidenceRecord.from_row(rows[0]) if rows else None

    def evidence_records_by_id(self, evidence_ids: Sequence[str]) -> list[EvidenceRecord]:
        """The evidence rows of ``evidence_ids`` that exist, in the order asked (one query)."""
        with self.connect() as con:
            rows = fetch_dicts(con, f"SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE evidence_id IN (SELECT unnest(?))",
                               [list(evidence_ids)])
        found = {r["evidence_id"]: EvidenceRecord.from_row(r) for r in rows}
        return [found[i] for i in dict.fromkeys(evidence_ids) if i in found]

    def newest_evidence_since(self, version_ids: Sequence[str], kind: str, since: dt.datetime, *,
                              without_input_uri_prefix: str | None = None) -> EvidenceRecord | None:
        """The newest evidence of ``kind`` for any of ``version_ids`` computed after ``since``, or None."""
        skip = "" if without_input_uri_prefix is None else "AND CAST(inputs AS VARCHAR) NOT LIKE ? "
        params: list[Any] = [list(version_ids), kind, since]
        if without_input_uri_prefix is not None:
            params.append(f'%"uri":"{without_input_uri_prefix}%')
        with self.connect() as con:
            rows = fetch_dicts(
                con,
                f"SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE version_id IN (SELECT unnest(?)) AND kind = ? "
                f"AND computed_at > ? {skip}ORDER BY computed_at DESC, evidence_id DESC LIMIT 1",
                params,
            )
        return EvidenceRecord.from_row(rows[0]) if rows else None

    def evidence_marker(self) -> tuple[int, dt.datetime | None]:
        """How many evidence rows there are and when the newest was computed: rows are only ever inserted, so an
        unchanged marker means no evidence arrived (one cheap query; the use cases' checklist basis reads it)."""
        with self.connect() as con:
            count, newest = con.execute("SELECT count(*), max(computed_at) FROM evidence").fetchone()
        return int(count), newest

    def first_with_evidence(self, version_ids: Sequence[str]) -> str | None:
        """The first of ``version_ids`` (in their order) that has stored evidence of any kind, or None: where the
        Review page and the Model page's lineage open when nothing else names a version (one query)."""
        with self.connect() as con:
            have = set(fetch_column(con, "SELECT DISTINCT version_id FROM evidence "
                                         "WHERE version_id IN (SELECT unnest(?))", [list(version_ids)]))
        return next((v for v in version_ids if v in have), None)

    def evidence_records(self, version_id: str | None = None) -> list[EvidenceRecord]:
        """Every evidence row (of one version), newest first."""
        where, params = ("WHERE version_id = ?", [version_id]) if version_id else ("", [])
        with self.connect() as con:
            rows = fetch_dicts(con, f"SELECT {EVIDENCE_COLUMNS} FROM evidence {where} "
                                    "ORDER BY computed_at DESC, evidence_id DESC", params)
        return [EvidenceRecord.from_row(r) for r in rows]
