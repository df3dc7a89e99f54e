"""Canonical JSON: equal data gives equal text, so its sha256 tells a changed record from an unchanged one."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no spaces and ISO dates: equal data gives equal text."""
    # one encoder for every call: json.dumps with options builds a new one each time, which costs as much as
    # encoding a small record (a sync encodes thousands); the encoder keeps no state between calls
    return _ENCODER.encode(obj)


def record_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``; used to tell a changed record from an unchanged one."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def json_default(o: Any) -> Any:
    """The ``default=`` of :func:`json.dumps` for what Countersign records hold: dates, paths, sets, numpy scalars."""
    if isinstance(o, dt.datetime | dt.date):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, frozenset | set | tuple):
        return sorted(o) if isinstance(o, frozenset | set) else list(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=json_default, ensure_ascii=False)
