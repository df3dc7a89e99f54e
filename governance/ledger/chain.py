"""The chain: what an entry is and how its hash links it to the previous one.

Each entry's ``hash`` is the sha256 of its own fields and of the previous entry's hash (:func:`entry_hash`), so
editing, deleting or reordering an entry breaks the chain from that entry on. The hashed text is the fields joined by
newlines, payload last; actor, action and subject may not contain control characters, and the payload is canonical
JSON (which escapes newlines), so the text is unambiguous.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import duckdb

GENESIS_HASH = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"  # the same text from Python's strftime and DuckDB's strftime


@dataclass(frozen=True)
class Entry:
    """One ledger entry as stored."""

    seq: int
    recorded_at: dt.datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


def entry_hash(
    seq: int, recorded_at: dt.datetime, actor: str, action: str, subject: str, prev_hash: str, payload: str
) -> str:
    """The hash of one entry: sha256 over its fields joined by newlines (payload text last)."""
    text = "\n".join((str(seq), recorded_at.strftime(TIME_FORMAT), actor, action, subject, prev_hash, payload))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored_head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    """The newest entry's number and hash as stored (``0, GENESIS_HASH`` when the ledger is empty)."""
    # max(seq) reads one column; ORDER BY … LIMIT 1 ranked whole rows (3 ms instead of 0.8 ms at 50,000 entries)
    row = con.execute("SELECT seq, hash FROM ledger WHERE seq = (SELECT max(seq) FROM ledger)").fetchone()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def hash_at(con: duckdb.DuckDBPyConnection, seq: int) -> str | None:
    """The stored hash of entry ``seq`` (``GENESIS_HASH`` for 0, None when there is no such entry)."""
    if seq == 0:
        return GENESIS_HASH
    row = con.execute("SELECT hash FROM ledger WHERE seq = ?", [seq]).fetchone()
    return row[0] if row else None
