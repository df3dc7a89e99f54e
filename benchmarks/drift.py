"""Drift engine vs Evidently's DataDriftPreset on the same data, same methods per column.

Run: ``.venv/bin/python benchmarks/drift.py`` (full: 1M rows × 25 columns vs Evidently, then 10M + 10M rows ×
20 columns end to end, plus the histogram approximation's error against the exact merged-values computation)
or ``--quick`` (100k vs Evidently, 1M + 1M end to end). Each engine runs in its own child process so that peak
memory (max RSS) is measured separately and fairly. Figures are printed as ratios against Evidently.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_NUM, N_CAT = 20, 5
SHIFTED_NUM = {"num_00": 0.3, "num_01": 0.5, "num_02": 1.0}  # mean shift in standard deviations
SHIFTED_CAT = {"cat_00"}


def write_data(path: Path, rows: int, *, current: bool, n_num: int = N_NUM, n_cat: int = N_CAT,
               seed: int = 0, chunk: int = 1_000_000) -> None:
    """Generate ``rows`` rows in row groups, without holding the whole table in memory."""
    rng = np.random.default_rng([seed, int(current)])
    writer = None
    done = 0
    cats = np.array(["a", "b", "c", "d", "e", "f"])
    while done < rows:
        n = min(chunk, rows - done)
        cols: dict[str, np.ndarray] = {}
        for i in range(n_num):
            name = f"num_{i:02d}"
            shift = SHIFTED_NUM.get(name, 0.0) if current else 0.0
            if i % 3 == 0:
                cols[name] = rng.normal(shift, 1.0, n)
            elif i % 3 == 1:
                cols[name] = rng.lognormal(shift * 0.5, 0.5, n)
            else:
                cols[name] = rng.gamma(2.0, 1.0, n) + shift
        for j in range(n_cat):
            name = f"cat_{j:02d}"
            p = [0.4, 0.2, 0.15, 0.1, 0.1, 0.05]
            if current and name in SHIFTED_CAT:
                p = [0.2, 0.2, 0.15, 0.15, 0.15, 0.15]
            cols[name] = cats[rng.choice(6, n, p=p)]
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(str(path), table.schema)
        writer.write_table(table)
        done += n
    assert writer is not None
    writer.close()


def child(engine: str, ref: str, cur: str, methods: str | None) -> None:
    """Run one engine and print JSON: seconds, per-column flags and scores."""
    # imports happen before the clock starts for both engines (Evidently's alone takes 3-5 s)
    if engine == "ours":
        from governance.analytics.drift import DriftConfig, drift_files

        started = time.perf_counter()
        result = drift_files(Path(ref), Path(cur), DriftConfig())
        out = {c.column: {"method": c.method, "score": c.score, "drifted": c.drifted} for c in result.columns}
    else:
        import pandas as pd
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        started = time.perf_counter()
        per_column = json.loads(methods or "{}")
        reference, current = pd.read_parquet(ref), pd.read_parquet(cur)
        num = [c for c in reference.columns if c.startswith("num_")]
        cat = [c for c in reference.columns if c.startswith("cat_")]
        definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
        snap = Report([DataDriftPreset(per_column_method=per_column)], include_tests=True).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition))
        d = snap.dict()
        out = {}
        for m in d["metrics"]:
            if m["config"]["type"].endswith("ValueDrift"):
                out[m["config"]["column"]] = {"method": m["config"]["method"], "score": float(m["value"])}
        for t in d["tests"]:
            p = t["metric_config"]["params"]
            if p["type"].endswith("ValueDrift"):
                out[p["column"]]["drifted"] = t["status"] == "FAIL"
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "columns": out}))


def run_child(engine: str, ref: Path, cur: Path, methods: dict[str, str] | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, str(ref), str(cur), json.dumps(methods or {})]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def versus_evidently(folder: Path, rows: int) -> None:
    ref, cur = folder / f"ref_{rows}.parquet", folder / f"cur_{rows}.parquet"
    write_data(ref, rows, current=False)
    write_data(cur, rows, current=True)
    ours = run_child("ours", ref, cur)
    methods = {c: v["method"] for c, v in ours["columns"].items()}
    theirs = run_child("evidently", ref, cur, methods)
    same = [c for c in ours["columns"] if ours["columns"][c]["drifted"] == theirs["columns"][c]["drifted"]]
    drifted = sorted(c for c, v in ours["columns"].items() if v["drifted"])
    diffs = {c: abs(ours["columns"][c]["score"] - theirs["columns"][c]["score"]) for c in ours["columns"]}
    worst_abs = max(diffs.values())
    worst_rel = max(diffs[c] / max(abs(theirs["columns"][c]["score"]), 1e-12) for c in drifted)
    print(f"\n== {rows:,} + {rows:,} rows × {N_NUM + N_CAT} columns ({N_NUM} numeric, {N_CAT} categorical) ==")
    print(f"methods used            {sorted(set(methods.values()))} (Evidently's defaults, passed to both)")
    print(f"Countersign             {ours['seconds']:8.2f} s   peak RSS {ours['rss_mb']:7.0f} MB")
    print(f"Evidently DataDriftPreset {theirs['seconds']:6.2f} s   peak RSS {theirs['rss_mb']:7.0f} MB")
    print(f"speed-up                {theirs['seconds'] / ours['seconds']:8.1f}×   (goal ≥ 50×)")
    print(f"memory ratio            {ours['rss_mb'] / theirs['rss_mb']:8.2f}    (goal ≤ 0.33)")
    print(f"identical drift flags   {len(same)} of {len(ours['columns'])}; drifted: {', '.join(drifted)}")
    print(f"score differences       largest absolute {worst_abs:.1e} (thresholds are 0.1); largest relative on "
          f"drifted columns {worst_rel:.1e}")
    print("                        (Wasserstein from the 4,096-bin histogram above 1M rows; Evidently is exact)")


def end_to_end(folder: Path, rows: int, n_cols: int = 20) -> None:
    from governance.analytics.drift import DriftConfig, drift_files

    ref, cur = folder / f"big_ref_{rows}.parquet", folder / f"big_cur_{rows}.parquet"
    t = time.perf_counter()
    write_data(ref, rows, current=False, n_num=n_cols, n_cat=0)
    write_data(cur, rows, current=True, n_num=n_cols, n_cat=0)
    gen = time.perf_counter() - t
    result = run_child("ours", ref, cur)
    print(f"\n== end to end: {rows:,} + {rows:,} rows × {n_cols} numeric columns, Parquet "
          f"(generated in {gen:.0f} s) ==")
    print(f"Countersign             {result['seconds']:8.2f} s   peak RSS {result['rss_mb']:7.0f} MB   "
          f"(goal < 10 s on {os.cpu_count()} cores)")
    drifted = sorted(c for c, v in result["columns"].items() if v["drifted"])
    print(f"drifted                 {', '.join(drifted)} (planted: {', '.join(sorted(SHIFTED_NUM))})")
    print("\nhistogram approximation vs exact merged sorted values (same data):")
    print(f"{'column':<8} {'method':<12} {'exact':>12} {'approx':>12} {'rel. error':>11} {'exact s':>8}")
    for col in ("num_01",):  # exact K-S/Wasserstein on 20M values takes about a minute per method
        rows_out = []
        for method in ("wasserstein", "ks"):
            started = time.perf_counter()
            exact = drift_files(ref, cur, DriftConfig(columns=(col,), num_method=method, exact_max_rows=10**12))
            t_exact = time.perf_counter() - started
            approx = drift_files(ref, cur, DriftConfig(columns=(col,), num_method=method))
            e, a = exact.columns[0], approx.columns[0]
            ev, av = (e.score, a.score) if method == "wasserstein" else (e.ks_statistic, a.ks_statistic)
            rows_out.append(f"{col:<8} {method + (' D' if method == 'ks' else ''):<12} {ev:>12.6g} {av:>12.6g} "
                            f"{abs(av - ev) / max(abs(ev), 1e-300):>11.2e} {t_exact:>8.1f}")
        print("\n".join(rows_out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (100k vs Evidently, 1M end to end)")
    parser.add_argument("--child", nargs=4, metavar=("ENGINE", "REF", "CUR", "METHODS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start (other work inflates timings)")
    vs_rows, big_rows = (100_000, 1_000_000) if args.quick else (1_000_000, 10_000_000)
    with tempfile.TemporaryDirectory(prefix="cs-bench-drift-") as tmp:
        folder = Path(tmp)
        versus_evidently(folder, vs_rows)
        end_to_end(folder, big_rows)


if __name__ == "__main__":
    main()
