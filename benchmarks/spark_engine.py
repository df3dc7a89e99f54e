"""Drift aggregates on Spark ``local[2]`` vs DuckDB, on the same Parquet files: time, ratio, and what came back.

Run: ``.venv/bin/python benchmarks/spark_engine.py`` (full: 10M + 10M rows × 20 features) or ``--quick``
(200k + 200k, used by ``make bench``); ``--rows N`` for another size. The Parquet files are generated once into
``--cache`` (default: the system temporary folder) and reused. Both engines run the same neutral SQL in the same
process, one after the other; the Spark session's start-up (JVM) is timed apart. Printed: seconds per engine, the
ratio Spark / DuckDB, queries, rows and bytes returned by each engine, and whether every score and flag agrees.
On one machine DuckDB is expected to win: the point is that the same numbers come back from an engine that scales
out, and that only aggregates travel.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from drift import write_data  # noqa: E402  (benchmarks/drift.py: the same generated data as the drift benchmark)

N_NUM, N_CAT = 15, 5  # 20 features


def data(cache: Path, rows: int) -> tuple[Path, Path]:
    """Reference and current Parquet files of ``rows`` rows each, generated once."""
    folder = cache / f"countersign-spark-bench-{rows}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "reference.parquet", folder / "current.parquet"
    for path, current in zip(paths, (False, True), strict=True):
        if not path.exists():
            started = time.perf_counter()
            part = path.with_suffix(".part")
            write_data(part, rows, current=current, n_num=N_NUM, n_cat=N_CAT)
            part.replace(path)
            print(f"generated {path} in {time.perf_counter() - started:.1f} s", flush=True)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k + 200k rows")
    parser.add_argument("--rows", type=int, help="rows per side (default 10M, or 200k with --quick)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 10_000_000)
    ref, cur = data(args.cache, rows)

    from governance.analytics.drift import DriftConfig, drift_files
    from governance.analytics.engines import EngineChoice, spark_session

    config = DriftConfig()
    started = time.perf_counter()
    duck = drift_files(ref, cur, config)
    t_duck = time.perf_counter() - started

    choice = EngineChoice("spark", master=args.master, conf={
        "spark.sql.shuffle.partitions": "4", "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.memory": "2g"})
    started = time.perf_counter()
    spark_session(choice.master, choice.conf).sparkContext.setLogLevel("ERROR")
    t_start = time.perf_counter() - started
    started = time.perf_counter()
    spark = drift_files(str(ref), str(cur), config, engine=choice)
    t_spark = time.perf_counter() - started

    worst = max(abs(a.score - b.score) / max(abs(a.score), 1e-300) if a.score else abs(b.score)
                for a, b in zip(duck.columns, spark.columns, strict=True))
    flags = [a.drifted for a in duck.columns] == [b.drifted for b in spark.columns]
    print(f"data: {rows:,} + {rows:,} rows × {N_NUM + N_CAT} features (Parquet), Spark master {args.master}")
    print(f"{'engine':<8} {'seconds':>9} {'queries':>8} {'rows back':>10} {'bytes back':>11} {'largest result':>15}")
    for name, t, r in (("duckdb", t_duck, duck), ("spark", t_spark, spark)):
        e = r.engine
        print(f"{name:<8} {t:>9.2f} {e['queries']:>8} {e['rows_returned']:>10,} {e['bytes_returned']:>11,} "
              f"{e['max_rows']:>15,}")
    print(f"Spark session start (JVM) {t_start:.1f} s, not included above")
    print(f"ratio Spark / DuckDB: {t_spark / t_duck:.1f}×")
    print(f"same query hash: {spark.engine['query_hash'] == duck.engine['query_hash']}; flags equal: {flags}; "
          f"largest relative score difference: {worst:.2e}")
    if not flags or not math.isfinite(worst) or worst > 1e-9:
        raise SystemExit("Spark and DuckDB disagree")


if __name__ == "__main__":
    main()
