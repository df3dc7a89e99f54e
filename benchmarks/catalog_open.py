"""Benchmark: one catalog operation outside a burst (what a portal page does), against opening the file with DuckDB.

Every operation outside :meth:`Catalog.keep_open` takes the file and lets it go again, so the portal and the CLI
take turns on it. Countersign attaches the file to the process's one in-memory DuckDB instance; the bare way opens
it with ``duckdb.connect(path)``, which builds a DuckDB instance each time. Both read the same small answer.

    .venv/bin/python benchmarks/catalog_open.py [--quick] [--repeat 60] [--versions 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 operations a round")
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--versions", type=int, default=200)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat = 15

    import duckdb

    from connectors.base import Snapshot, VersionRecord
    from governance.catalog import Catalog

    cat = Catalog(Path(tempfile.mkdtemp(prefix="countersign-open-")) / "catalog.duckdb")
    cat.migrate()
    at = dt.datetime(2026, 1, 1)
    versions = tuple(VersionRecord(model="m", version=n, source_ref=f"m/{n}", approval_status="Approved",
                                   created_at=at, created_by="ds@example.com") for n in range(1, args.versions + 1))
    cat.apply_snapshot(sync_id="s1", account="a", environment="dev", snapshot=Snapshot(versions=versions),
                       started_at=at, full=True, actor="benchmark")

    def bare() -> None:
        with duckdb.connect(str(cat.path)) as con:
            con.execute("SELECT count(*) FROM versions").fetchall()

    # alternated, so load from other work on the machine falls on both sides
    rounds = {"bare": [], "ours": [], "inventory": []}
    for _ in range(3):
        rounds["bare"].append(median_ms(bare, args.repeat))
        rounds["ours"].append(median_ms(lambda: cat.counts(), args.repeat))
        rounds["inventory"].append(median_ms(lambda: cat.inventory(), args.repeat))
    b, ours, inv = (statistics.median(rounds[k]) for k in ("bare", "ours", "inventory"))
    print(f"median of {args.repeat} operations × 3 rounds, a catalog of {args.versions} versions")
    print(f"duckdb.connect(path) + count + close          {b:6.2f} ms")
    print(f"Catalog.counts() (attach, 11 counts, detach)  {ours:6.2f} ms   {b / ours:5.1f}× faster than the bare open")
    print(f"Catalog.inventory() (attach, join, detach)    {inv:6.2f} ms   {b / inv:5.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
