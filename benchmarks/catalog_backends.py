"""The catalog on DuckDB and on PostgreSQL: ledger appends from several writer processes, and the inventory query.

    .venv/bin/python benchmarks/catalog_backends.py [--quick] [--appends 500] [--versions 10000]

PostgreSQL is a real local server (Debian's package, started on a free port as the tests do, fsync on).
Appends: 1, 4 and 8 writer *processes* (portal replicas, sync workers) each appending ``--appends`` entries, every
one durable before the next, with no ``keep_open`` (several processes share the catalog). On DuckDB every append
opens the file, and the writers take turns on its lock; on PostgreSQL they share the server under an advisory lock.
Inventory: ``Catalog.inventory()`` on ``--versions`` versions over 3 accounts (built on DuckDB, then copied with
``catalog copy``), median of several runs. Prints appends/s, milliseconds and the PostgreSQL/DuckDB ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.inventory import build  # noqa: E402
from governance import ledger  # noqa: E402
from governance.catalog import Catalog  # noqa: E402
from governance.catalog.transfer import copy_catalog  # noqa: E402
from governance.config import Workspace  # noqa: E402
from tests.servers.postgres_server import PostgresServer  # noqa: E402

WRITER = f"""
import logging, sys, time
logging.disable(logging.WARNING)  # what goes wrong is summed up by the parent after the run
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from governance import ledger
from governance.catalog import Catalog
path, url, n, go, k = Path(sys.argv[1]), sys.argv[2] or None, int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
catalog = Catalog(path, url=url, busy_timeout=120)
while not go.exists():
    time.sleep(0.002)
for i in range(n):
    ledger.append(catalog, actor=f"writer{{k}}@bench", action="bench.append", subject=f"w{{k}}", payload={{"i": i}})
"""


def appends_per_second(folder: Path, url: str | None, writers: int, n: int) -> tuple[float, str]:
    """Appends/s of ``writers`` processes appending ``n`` entries each to a fresh ledger, and what verify says."""
    ws = Workspace(folder)
    ws.ensure_dirs()
    ws.config_path.write_text("", encoding="utf-8")
    catalog = Catalog(ws.catalog_path, url=url)
    catalog.migrate()
    go = folder / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(ws.catalog_path), url or "", str(n), str(go), str(k)])
             for k in range(writers)]
    time.sleep(1.5)  # every writer imported and waiting at the barrier
    start = time.perf_counter()
    go.touch()
    failed = sum(p.wait() != 0 for p in procs)
    elapsed = time.perf_counter() - start
    report = ledger.verify_unchecked(ws, catalog)
    # DuckDB is one writer process per file by design: several processes taking turns on it are measured, and
    # what went wrong is printed rather than hidden (a writer that gave up, a ledger that no longer verifies)
    outcome = "ok" if report.ok and report.length == writers * n and not failed else (
        f"{failed} writer(s) failed, {report.length}/{writers * n} entries, "
        f"{'verifies' if report.ok else 'DOES NOT VERIFY: ' + report.problems[0].kind}")
    return report.length / elapsed, outcome


def inventory_ms(catalog: Catalog, runs: int) -> float:
    catalog.inventory()  # warm
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        frame = catalog.inventory()
        times.append(time.perf_counter() - t)
    assert len(frame) > 0
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer appends and versions (make bench)")
    parser.add_argument("--appends", type=int, default=500, help="appends per writer process")
    parser.add_argument("--versions", type=int, default=10_000)
    args = parser.parse_args()
    appends, versions = (20, 3_000) if args.quick else (args.appends, args.versions)
    server = PostgresServer(fsync=True).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            print(f"ledger appends/s ({appends} per writer process, every one durable)")
            print(f"{'writers':>8} {'DuckDB':>10} {'PostgreSQL':>11} {'PG/DuckDB':>10}  outcome")
            for writers in (1, 4, 8):
                duck, duck_outcome = appends_per_second(root / f"duck-{writers}", None, writers, appends)
                pg, pg_outcome = appends_per_second(root / f"pg-{writers}", server.new_database("bench"), writers,
                                                    appends)
                print(f"{writers:>8} {duck:>10.0f} {pg:>11.0f} {pg / duck:>9.2f}x  DuckDB {duck_outcome}; "
                      f"PostgreSQL {pg_outcome}", flush=True)
            inv = root / "inventory"
            inv.mkdir()
            duck_catalog = build(inv, versions)
            pg_catalog = Catalog(inv / "catalog.duckdb", url=server.new_database("bench"))
            copy_catalog(duck_catalog, pg_catalog)
            runs = 5 if args.quick else 15
            duck_ms, pg_ms = inventory_ms(duck_catalog, runs), inventory_ms(pg_catalog, runs)
            print(f"inventory of {versions} versions (median of {runs}): DuckDB {duck_ms:.0f} ms, "
                  f"PostgreSQL {pg_ms:.0f} ms ({pg_ms / duck_ms:.2f}x)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
