"""Reading the ledger: its head, one entry, the entries about a subject, the filtered listing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import InputError, NotFound
from governance.catalog import Catalog
from governance.ledger.chain import Entry, stored_head

if TYPE_CHECKING:
    import pandas as pd


def head(catalog: Catalog) -> tuple[int, str]:
    """The ledger's length and head hash (``0, GENESIS_HASH`` when empty)."""
    with catalog.connect() as con:
        return stored_head(con)


def _entry(row: Sequence[Any]) -> Entry:
    seq, at, actor, action, subject, payload, prev, digest = row
    return Entry(seq, at, actor, action, subject or "", json.loads(payload), prev, digest)


def entries_on(con: Any, subject: str) -> list[Entry]:
    """Every entry about ``subject``, oldest first, read on ``con`` (inside the caller's transaction: what a
    decision counts is what the ledger holds when it writes)."""
    rows = con.execute("SELECT seq, recorded_at, actor, action, subject, payload, prev_hash, hash FROM ledger "
                       "WHERE subject = ? ORDER BY seq", [subject]).fetchall()
    return [_entry(r) for r in rows]


def entries_for(catalog: Catalog, subject: str) -> list[Entry]:
    """Every entry about ``subject`` (e.g. ``request:R-…``), oldest first."""
    with catalog.connect() as con:
        rows = con.execute(
            "SELECT seq, recorded_at, actor, action, subject, payload, prev_hash, hash FROM ledger "
            "WHERE subject = ? ORDER BY seq",
            [subject],
        ).fetchall()
    return [_entry(r) for r in rows]


def entry(catalog: Catalog, seq: int) -> Entry:
    """The entry number ``seq``."""
    with catalog.connect() as con:
        row = con.execute(
            "SELECT seq, recorded_at, actor, action, subject, payload, prev_hash, hash FROM ledger WHERE seq = ?",
            [seq],
        ).fetchone()
    if row is None:
        raise NotFound(f"the ledger has no entry {seq}")
    return _entry(row)


@dataclass(frozen=True)
class LedgerFilter:
    """Filters of the ledger listing; empty values mean 'any'.

    ``since`` is inclusive and ``until`` exclusive (naive UTC); ``model`` keeps the entries about that model: its
    versions (``version:ACCOUNT:MODEL:N``), its promotion requests, and entries whose payload names it.
    """

    actions: tuple[str, ...] = ()
    actor: str = ""
    subject: str = ""
    text: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    model: str = ""

    @classmethod
    def for_days(cls, first: dt.date | None, last: dt.date | None, **kw: Any) -> LedgerFilter:
        """A filter over whole days: from the start of ``first`` to the end of ``last`` (UTC), either open."""
        if first and last and last < first:
            raise InputError(f"the date range ends ({last}) before it starts ({first}): pick an end on or after "
                             "the start")
        since = dt.datetime.combine(first, dt.time()) if first else None
        until = dt.datetime.combine(last, dt.time()) + dt.timedelta(days=1) if last else None
        return cls(since=since, until=until, **kw)


def listing(catalog: Catalog, flt: LedgerFilter = LedgerFilter(), *, limit: int = 500) -> pd.DataFrame:
    """Ledger entries matching ``flt``, newest first, at most ``limit`` rows."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    if flt.actions:
        where.append("action IN (SELECT unnest(?))")
        params.append(list(flt.actions))
    for column, value in (("actor", flt.actor), ("subject", flt.subject)):
        if value.strip():
            where.append(f"{column} ILIKE ?")
            params.append(f"%{value.strip()}%")
    if flt.text.strip():
        where.append("payload ILIKE ?")
        params.append(f"%{flt.text.strip()}%")
    if flt.model.strip():
        model = flt.model.strip()
        where.append(
            "((subject LIKE 'version:%' AND split_part(subject, ':', 3) = ?) "
            "OR subject IN (SELECT 'request:' || request_id FROM promotion_requests WHERE model = ?) "
            "OR json_extract_string(payload, '$.model') = ?)"
        )
        params.extend([model] * 3)
    if flt.since:
        where.append("recorded_at >= ?")
        params.append(flt.since)
    if flt.until:
        where.append("recorded_at < ?")
        params.append(flt.until)
    return catalog.query_df(
        f"SELECT seq, recorded_at, actor, action, subject, payload, hash FROM ledger WHERE {' AND '.join(where)} "
        "ORDER BY seq DESC LIMIT ?",
        [*params, int(limit)],
    )


def actions(catalog: Catalog) -> list[str]:
    """The distinct actions in the ledger, for filters."""
    with catalog.connect() as con:
        return [r[0] for r in con.execute("SELECT DISTINCT action FROM ledger ORDER BY 1").fetchall()]
