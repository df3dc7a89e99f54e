"""Canonical JSON: equal data gives equal text, so its sha256 tells a changed record from an unchanged one."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import json.encoder
import math
from pathlib import Path
from typing import Any


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no spaces and ISO dates: equal data gives equal text."""
    # one encoder for every call: json.dumps with options builds a new one each time, which costs as much as
    # encoding a small record (a sync encodes thousands); the encoder keeps no state between calls
    if _ONE_SHOT is None:
        return _ENCODER.encode(obj)
    return "".join(_ONE_SHOT(obj, 0))


def record_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``; used to tell a changed record from an unchanged one."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def json_safe(obj: Any) -> Any:
    """A JSON-ready copy: non-finite floats become None, tuples lists, numpy scalars Python numbers."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


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
# The C encoder that _ENCODER.encode builds on every call, built once: the same function with the same arguments
# (so the same text), a microsecond less per call. No circular-reference markers, so it keeps no state and threads
# may share it (a cycle ends in RecursionError instead of ValueError). None where the C accelerator is missing.
_ONE_SHOT = (
    json.encoder.c_make_encoder(None, json_default, json.encoder.c_encode_basestring, None, ":", ",", True, False, True)
    if json.encoder.c_make_encoder is not None and json.encoder.c_encode_basestring is not None else None
)
