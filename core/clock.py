"""The one clock: naive UTC date-times, as the catalog and the ledger store them (DuckDB TIMESTAMP, no zone)."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current UTC time, naive (the catalog stores UTC without zone)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as naive UTC: an aware time is converted, a naive one is taken to be UTC already."""
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value
