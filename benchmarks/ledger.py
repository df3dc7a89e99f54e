"""Ledger benchmark: durable appends per second and verification time, against SQLite and a Python loop.

    .venv/bin/python benchmarks/ledger.py [--quick]

Appends: each one its own committed transaction on a held connection (what ``ledger.append(con, …)`` costs),
then batches of 10 and 100 per transaction (``ledger.append_many``), then through ``ledger.append(catalog, …)`` which opens a short-lived
connection per call (the CLI/portal path). The competitor is the same hash chain in SQLite (WAL,
synchronous=FULL, one transaction per append). Verification: the DuckDB query of ``ledger.verify`` against the
obvious alternative, a Python loop recomputing every hash with hashlib over rows fetched from the same file.
Goals (issue 5): ≥ 1,000 appends/s, verify 1M entries ≤ 2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from governance import ledger
from governance.catalog import Catalog
from governance.config import Workspace

PAYLOAD = {"comment": "Validation metrics reviewed; fit for purpose.", "version_id": "lab-staging:credit-approval:3"}


def chain_frame(n: int) -> pd.DataFrame:
    prev, rows = ledger.GENESIS_HASH, []
    start = dt.datetime(2026, 1, 1)
    text = json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":"))
    for seq in range(1, n + 1):
        at = start + dt.timedelta(microseconds=seq * 137)
        digest = ledger.entry_hash(seq, at, "risk.officer@bank.example", "request.approve", f"request:PR-{seq}",
                                   prev, text)
        rows.append((seq, at, "risk.officer@bank.example", "request.approve", f"request:PR-{seq}", text, prev,
                     digest))
        prev = digest
    return pd.DataFrame(rows, columns=["seq", "recorded_at", "actor", "action", "subject", "payload", "prev_hash",
                                       "hash"])


def bench_appends(root: Path, n: int) -> dict[str, float]:
    ws = Workspace(root / "appends")
    ws.ensure_dirs()
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    out: dict[str, float] = {}
    with catalog.connect() as con:
        t = time.perf_counter()
        for i in range(n):
            con.begin()
            ledger.append(con, actor="risk.officer@bank.example", action="request.approve", subject=f"request:{i}",
                          payload=PAYLOAD)
            con.commit()
        out["duckdb_txn_per_append"] = n / (time.perf_counter() - t)
        for size in (10, 100):
            t = time.perf_counter()
            for b in range(n // size):
                con.begin()
                ledger.append_many(con, [ledger.NewEntry("risk.officer@bank.example", "request.approve",
                                                         f"request:{b}-{i}", PAYLOAD) for i in range(size)])
                con.commit()
            out[f"duckdb_append_many_batches_of_{size}"] = (n // size * size) / (time.perf_counter() - t)
    m = max(50, n // 10)
    t = time.perf_counter()
    for i in range(m):
        ledger.append(catalog, actor="risk.officer@bank.example", action="request.approve", subject=f"r:{i}",
                      payload=PAYLOAD)
    out["duckdb_via_catalog_short_connections"] = m / (time.perf_counter() - t)

    lite = sqlite3.connect(root / "ledger.sqlite", isolation_level=None)
    lite.execute("PRAGMA journal_mode=WAL")
    lite.execute("PRAGMA synchronous=FULL")
    lite.execute("CREATE TABLE ledger (seq INTEGER PRIMARY KEY, recorded_at TEXT, actor TEXT, action TEXT, "
                 "subject TEXT, payload TEXT, prev_hash TEXT, hash TEXT)")
    text = json.dumps(PAYLOAD, sort_keys=True, separators=(",", ":"))
    t = time.perf_counter()
    for i in range(n):
        lite.execute("BEGIN IMMEDIATE")
        row = lite.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, ledger.GENESIS_HASH)
        at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        digest = ledger.entry_hash(seq, at, "risk.officer@bank.example", "request.approve", f"request:{i}", prev,
                                   text)
        lite.execute("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (seq, at.isoformat(), "risk.officer@bank.example", "request.approve", f"request:{i}", text,
                      prev, digest))
        lite.execute("COMMIT")
    out["sqlite_txn_per_append"] = n / (time.perf_counter() - t)
    lite.close()
    return out


def bench_verify(root: Path, n: int) -> dict[str, float]:
    ws = Workspace(root / f"verify{n}")
    ws.ensure_dirs()
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    frame = chain_frame(n)
    with catalog.transaction() as con:
        con.register("frame", frame)
        con.execute("INSERT INTO ledger SELECT * FROM frame")
    ledger.seal(ws, catalog, by="bench")
    # warm the file cache so both contenders read from memory
    catalog.query_df("SELECT count(*) FROM ledger")
    t = time.perf_counter()
    report = ledger.verify_unchecked(ws, catalog)
    duck = time.perf_counter() - t
    assert report.ok and report.length == n, report.summary()

    t = time.perf_counter()
    with duckdb.connect(str(ws.catalog_path)) as con:
        rows = con.execute("SELECT seq, recorded_at, actor, action, subject, payload, prev_hash, hash FROM ledger "
                           "ORDER BY seq").fetchall()
    prev = ledger.GENESIS_HASH
    for seq, at, actor, action, subject, payload, prev_hash, digest in rows:
        text = "\n".join((str(seq), at.strftime("%Y-%m-%dT%H:%M:%S.%f"), actor, action, subject, prev_hash, payload))
        if prev_hash != prev or hashlib.sha256(text.encode()).hexdigest() != digest:
            raise AssertionError(f"python loop disagrees at {seq}")
        prev = digest
    loop = time.perf_counter() - t
    return {"entries": n, "duckdb_verify_s": duck, "python_loop_verify_s": loop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (seconds instead of a minute)")
    args = parser.parse_args()
    n_append = 300 if args.quick else 3000
    sizes = (100_000,) if args.quick else (100_000, 1_000_000)
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(other work on the machine slows every figure; the ratios are measured side by side)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        a = bench_appends(root, n_append)
        print(f"durable appends ({n_append} entries, each committed before the next starts)")
        for k, v in a.items():
            print(f"  {k:<40} {v:9.0f} /s")
        print(f"  ratio duckdb (txn per append) / sqlite       {a['duckdb_txn_per_append'] / a['sqlite_txn_per_append']:9.2f}")
        print(f"  goal ≥ 1,000/s: one transaction per append {'met' if a['duckdb_txn_per_append'] >= 1000 else 'NOT met'}"
              f", batches of 10 {'met' if a['duckdb_append_many_batches_of_10'] >= 1000 else 'NOT met'}"
              f", batches of 100 {'met' if a['duckdb_append_many_batches_of_100'] >= 1000 else 'NOT met'}")
        for n in sizes:
            v = bench_verify(root, n)
            print(f"verify {n:,} entries: duckdb {v['duckdb_verify_s']:.2f} s, python loop "
                  f"{v['python_loop_verify_s']:.2f} s, ratio loop/duckdb {v['python_loop_verify_s'] / v['duckdb_verify_s']:.1f}x"
                  + (f"  (goal ≤ 2 s: {'met' if v['duckdb_verify_s'] <= 2 else 'NOT met'})" if n == 1_000_000 else ""))


if __name__ == "__main__":
    main()
