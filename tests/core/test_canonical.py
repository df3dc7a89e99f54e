"""Canonical JSON: the text every record hash and ledger entry is computed from must never change.

The encoder is built once (the C encoder ``json.JSONEncoder.encode`` would build on every call); its text is checked
here against ``json.dumps`` with the documented options, the independent oracle, on values of every kind a record
holds. A byte of difference would make every stored record look changed and every ledger hash unverifiable.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from pathlib import Path

import numpy as np
import pytest

from core.canonical import canonical_json, json_default, record_hash


def oracle(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=json_default, ensure_ascii=False)


VALUES = [
    None, True, False, 0, -1, 2**70, 1.5, 0.1, 1e-5, 1e16, -0.0, float("nan"), float("inf"), float("-inf"),
    "", "plain", "accentué ü ß 模型", "quote \" backslash \\ newline \n tab \t nul \x00 \u2028", "😀",
    [], {}, (1, "two"), [None, [[]], {"": {}}],
    {"b": 1, "a": [1.5, None, "é"], "c": {"z": 1, "y": {"x": [True]}}},
    {"when": dt.datetime(2026, 12, 4, 19, 30, 1, 5), "utc": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
     "day": dt.date(2026, 2, 3)},
    {"path": Path("/tmp/x y"), "set": {3, 1, 2}, "frozen": frozenset({"b", "a"})},
    {"np": [np.float64(0.25), np.int64(7), np.bool_(True)]},
    {2: "int keys", 1: "turn into strings"},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:40])
def test_canonical_json_is_json_dumps_with_the_documented_options(value: object) -> None:
    assert canonical_json(value) == oracle(value)


def test_random_records_encode_as_json_dumps_and_hash_alike() -> None:
    rng = random.Random(7)

    def value(depth: int) -> object:
        kind = rng.randrange(8 if depth < 3 else 5)
        if kind == 0:
            return rng.choice([None, True, False])
        if kind == 1:
            return rng.randint(-10**12, 10**12)
        if kind == 2:
            return rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-12, 12)
        if kind == 3:
            return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0xA0, 0x2FFF)])) for _ in range(rng.randint(0, 12)))
        if kind == 4:
            return dt.datetime(2020, 1, 1) + dt.timedelta(seconds=rng.randint(0, 10**8), microseconds=rng.randint(0, 999_999))
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        if kind == 6:
            return tuple(value(depth + 1) for _ in range(rng.randint(0, 3)))
        return {f"k{rng.randint(0, 50)}": value(depth + 1) for _ in range(rng.randint(0, 5))}

    records = [value(0) for _ in range(2000)]
    assert [canonical_json(r) for r in records] == [oracle(r) for r in records]
    import hashlib

    assert record_hash(records[0]) == hashlib.sha256(oracle(records[0]).encode()).hexdigest()


def test_threads_share_the_encoder_safely() -> None:
    record = {"metrics": {f"m{i}": i / 7 for i in range(50)}, "labels": ["a", "b"], "nested": [{"x": [1, 2, 3]}] * 20}
    expected = oracle(record)
    wrong: list[str] = []

    def encode() -> None:
        for _ in range(500):
            text = canonical_json(record)
            if text != expected:
                wrong.append(text)

    threads = [threading.Thread(target=encode) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_what_json_cannot_hold_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        canonical_json({"x": object()})
