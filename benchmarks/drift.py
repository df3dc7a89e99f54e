"""Drift engine, measured side by side with what it competes with: the physical floor (one DuckDB scan of the same
columns) and Evidently's DataDriftPreset, wall and CPU seconds each.

Run: ``.venv/bin/python benchmarks/drift.py`` (the four goals of issue 32; the 10M + 10M part writes ~3.3 GB of
Parquet and takes several minutes), ``--goals`` (parts 3 and 4 only, about ten minutes) or ``--quick`` (smaller
sizes, a few minutes). Each run ends with a summary of the two speed goals. Parts:

1. **import**: CPU seconds to import what ``countersign drift`` loads before it computes, over ``import duckdb``
   (goal ≤ 0.3 s), each in a fresh interpreter, median of several runs.
2. **100k + 100k × 25** (the exact route): the whole comparison against one DuckDB scan of the same columns (per
   side one query reading every value: sum of the numbers, length of the strings) and against fetching those columns
   into Arrow (goal ≤ 3× the scan).
3. **1M × 25 vs Evidently** (the binned route), each in its own process, verdicts compared column by column
   (goal ≥ 100× on CPU, equal verdicts), and one scan of the same files.
4. **10M + 10M × 20** against one scan of the same columns (goal ≤ 1.5×), what binning alone costs against that scan
   (a count per fine bin of every column, several ways: the floor of any binned comparison), and the histogram
   approximation's error against the exact computation on one column (full run only).

CPU seconds are the process's (every DuckDB thread counted); wall seconds suffer from other work on a shared
machine, so the load average is printed before each part.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def scan(ref: str, cur: str) -> None:
    """The floor: per side one query that reads every value of every column (not Parquet metadata)."""
    from governance.analytics.io import connect

    con = connect()  # the analysis connection's settings (statistics propagation off, as the drift engine runs)
    for path in (ref, cur):
        names = pq.read_schema(path).names
        exprs = [f"sum({c})" if c.startswith("num_") else f"max(length({c}))" for c in names]
        con.sql(f"SELECT {', '.join(exprs)} FROM read_parquet('{path}')").fetchall()


def fetch(ref: str, cur: str) -> None:
    """Reading every value of the same columns into Arrow (what exact order statistics must look at)."""
    from governance.analytics.io import connect

    con = connect()
    for path in (ref, cur):
        con.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table()


def child(engine: str, ref: str, cur: str, methods: str | None) -> None:
    """Run one engine and print JSON: wall and CPU seconds, peak memory, per-column flags and scores."""
    import resource

    # imports happen before the clock starts for every engine (Evidently's alone takes 3-5 s); "-warm" runs the same
    # work once before the clock starts (caches, lazy imports, the first query's set-up)
    warm = engine.endswith("-warm")
    engine = engine.removesuffix("-warm")
    if engine in ("scan", "fetch"):
        work = scan if engine == "scan" else fetch
        if warm:
            work(ref, cur)
        start = _clock()
        work(ref, cur)
        out: dict = {}
    elif engine == "ours":
        from governance.analytics.drift import DriftConfig, drift_files

        if warm:
            drift_files(Path(ref), Path(cur), DriftConfig())
        start = _clock()
        result = drift_files(Path(ref), Path(cur), DriftConfig())
        out = {c.column: {"method": c.method, "score": c.score, "drifted": c.drifted} for c in result.columns}
    else:
        import pandas as pd
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        start = _clock()
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
    wall, cpu = _since(start)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": wall, "cpu": cpu, "rss_mb": rss_mb, "columns": out}))


def run_child(engine: str, ref: Path, cur: Path, methods: dict[str, str] | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", engine, str(ref), str(cur), json.dumps(methods or {})]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_of(engine: str, ref: Path, cur: Path, runs: int) -> dict:
    """The run with the least CPU of ``runs`` (each in a fresh process: a cold start every time)."""
    return min((run_child(engine, ref, cur) for _ in range(runs)), key=lambda r: r["cpu"])


def _load() -> str:
    return f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"


def import_cost(runs: int) -> None:
    """CPU seconds of importing what ``countersign drift`` needs before it computes, over ``import duckdb``."""
    drift = ("import countersign_cli.main, countersign_cli.cliutil, countersign_cli.commands.analytics, "
             "governance.analytics.drift, governance.analytics.engines; from countersign_cli.main import build_parser; "
             "build_parser()")
    code = "import resource, time, sys; t = time.process_time(); {0}; print(time.process_time() - t)"
    got = {}
    for name, stmt in (("import duckdb", "import duckdb"), ("drift CLI", drift)):
        cpu = []
        for _ in range(runs):
            proc = subprocess.run([sys.executable, "-c", code.format(stmt)], capture_output=True, text=True,
                                  cwd=ROOT, check=True)
            cpu.append(float(proc.stdout.strip()))
        got[name] = statistics.median(cpu)
    extra = got["drift CLI"] - got["import duckdb"]
    print(f"\n== 1. import cost {_load()} ==")
    print(f"import duckdb            {got['import duckdb']:6.3f} s CPU (median of {runs})")
    print(f"drift CLI modules        {got['drift CLI']:6.3f} s CPU (countersign_cli with every command, the analytics "
          "drift engine)")
    print(f"over import duckdb       {extra:6.3f} s CPU   goal ≤ 0.3 s: {'met' if extra <= 0.3 else 'NOT met'}")
    print("                         (scipy loads when a p-value test runs: K-S, chi-square, Z on ≤ 1,000 rows)")


def versus_scan(folder: Path, rows: int, n_num: int, n_cat: int, goal: float, part: str, runs: int,
                warm: bool = False) -> dict:
    ref, cur = folder / f"scan_ref_{rows}_{n_num}.parquet", folder / f"scan_cur_{rows}_{n_num}.parquet"
    if not ref.exists():
        write_data(ref, rows, current=False, n_num=n_num, n_cat=n_cat)
        write_data(cur, rows, current=True, n_num=n_num, n_cat=n_cat)
    print(f"\n== {part}. {rows:,} + {rows:,} rows × {n_num + n_cat} columns vs one DuckDB scan {_load()} ==")
    for how in ("cold", "warm") if warm else ("cold",):
        suffix = "-warm" if how == "warm" else ""
        ours, floor, read = (best_of(e + suffix, ref, cur, runs) for e in ("ours", "scan", "fetch"))
        print(f"-- {how}: {'each in a fresh process (what one command costs)' if how == 'cold' else 'the second run in a process (set-up and caches paid before)'}")
        for name, r in (("Countersign drift", ours), ("one scan (sum/length)", floor), ("fetch into Arrow", read)):
            print(f"{name:<24} {r['seconds']:8.3f} s wall {r['cpu']:8.3f} s CPU   peak RSS {r['rss_mb']:6.0f} MB")
        ratio = ours["cpu"] / floor["cpu"]
        print(f"drift / scan             {ours['seconds'] / floor['seconds']:8.1f}× wall {ratio:8.1f}× CPU   "
              f"goal ≤ {goal:g}× on CPU: {'met' if ratio <= goal else 'NOT met'}")
        print(f"drift / fetch            {ours['seconds'] / read['seconds']:8.1f}× wall "
              f"{ours['cpu'] / read['cpu']:8.1f}× CPU")
    drifted = sorted(c for c, v in ours["columns"].items() if v["drifted"])
    print(f"drifted                  {', '.join(drifted)}; methods {sorted({v['method'] for v in ours['columns'].values()})}")
    return {"ours": ours, "scan": floor, "load": os.getloadavg()[0]}


def versus_evidently(folder: Path, rows: int) -> dict:
    ref, cur = folder / f"ref_{rows}.parquet", folder / f"cur_{rows}.parquet"
    write_data(ref, rows, current=False)
    write_data(cur, rows, current=True)
    print(f"\n== 3. {rows:,} + {rows:,} rows × {N_NUM + N_CAT} columns vs Evidently {_load()} ==")
    ours = best_of("ours", ref, cur, 3)
    floor = best_of("scan", ref, cur, 3)
    methods = {c: v["method"] for c, v in ours["columns"].items()}
    theirs = run_child("evidently", ref, cur, methods)
    same = [c for c in ours["columns"] if ours["columns"][c]["drifted"] == theirs["columns"][c]["drifted"]]
    drifted = sorted(c for c, v in ours["columns"].items() if v["drifted"])
    diffs = {c: abs(ours["columns"][c]["score"] - theirs["columns"][c]["score"]) for c in ours["columns"]}
    worst_rel = max(diffs[c] / max(abs(theirs["columns"][c]["score"]), 1e-12) for c in drifted)
    cpu_ratio = theirs["cpu"] / ours["cpu"]
    print(f"methods used             {sorted(set(methods.values()))} (Evidently's defaults, passed to both)")
    for name, r in (("Countersign (best of 3)", ours), ("Evidently DataDriftPreset", theirs),
                    ("one scan (best of 3)", floor)):
        print(f"{name:<25} {r['seconds']:7.2f} s wall {r['cpu']:8.2f} s CPU   peak RSS {r['rss_mb']:6.0f} MB")
    print(f"speed-up                 {theirs['seconds'] / ours['seconds']:8.1f}× wall {cpu_ratio:8.1f}× CPU   "
          f"goal ≥ 100× on CPU: {'met' if cpu_ratio >= 100 else 'NOT met'}")
    print(f"drift / scan             {ours['seconds'] / floor['seconds']:8.1f}× wall "
          f"{ours['cpu'] / floor['cpu']:8.1f}× CPU   (Evidently / scan {theirs['cpu'] / floor['cpu']:.0f}× CPU)")
    print(f"identical verdicts       {len(same)} of {len(ours['columns'])}; drifted: {', '.join(drifted)}")
    print(f"score differences        largest absolute {max(diffs.values()):.1e} (thresholds are 0.1); largest "
          f"relative on drifted columns {worst_rel:.1e}")
    return {"ours": ours, "evidently": theirs, "scan": floor, "load": os.getloadavg()[0],
            "same": len(same), "of": len(ours["columns"])}


def summary(vs_evidently: dict, vs_scan: dict, rows: tuple[int, int]) -> None:
    """Both speed goals of issue 32 side by side, from the figures measured above in this run."""
    print(f"\n== goals (issue 32), this run {_load()} ==")
    print(f"{'':<34} {'wall s':>8} {'CPU s':>8}")
    e, s = vs_evidently, vs_scan
    for label, r in ((f"{rows[0]:,} × 25: Countersign", e["ours"]), (f"{rows[0]:,} × 25: Evidently", e["evidently"]),
                     (f"{rows[0]:,} × 25: one scan", e["scan"]), (f"{rows[1]:,} × 20: Countersign", s["ours"]),
                     (f"{rows[1]:,} × 20: one scan", s["scan"])):
        print(f"{label:<34} {r['seconds']:8.2f} {r['cpu']:8.2f}")
    fast = e["evidently"]["cpu"] / e["ours"]["cpu"]
    floor = s["ours"]["cpu"] / s["scan"]["cpu"]
    print(f"Evidently / Countersign  {e['evidently']['seconds'] / e['ours']['seconds']:7.1f}× wall {fast:7.1f}× CPU   "
          f"goal ≥ 100× (CPU): {'met' if fast >= 100 else 'NOT met'}; verdicts equal {e['same']} of {e['of']}")
    print(f"Countersign / one scan   {s['ours']['seconds'] / s['scan']['seconds']:7.1f}× wall {floor:7.1f}× CPU   "
          f"goal ≤ 1.5× (CPU): {'met' if floor <= 1.5 else 'NOT met'}")
    print(f"CPU budgets the goals leave: ≤ {e['evidently']['cpu'] / 100:.2f} s at {rows[0]:,} rows, "
          f"≤ {1.5 * s['scan']['cpu']:.2f} s at {rows[1]:,} rows")
    if rows != (1_000_000, 10_000_000):
        print("(the goals are set at 1,000,000 and 10,000,000 rows: these smaller sizes only indicate)")


def binning_floor(folder: Path, rows: int, runs: int = 3) -> None:
    """What any binned comparison costs beyond reading: one count per fine bin of every column (4,000 bins), each way
    measured against the scan. In SQL: a ``GROUP BY`` per column in one statement with the count alone, with what the
    engine also keeps per bin (min and max for the Sturges edges, two sums for the standard deviation), the same on one
    DuckDB thread, one ``GROUPING SETS`` pass, DuckDB's ``histogram()`` aggregate; outside SQL: numpy ``bincount``
    over the columns fetched into Arrow, and a compiled loop (numba, which shap brings) over Parquet read by pyarrow,
    whose import and first call are a fixed cost printed apart."""
    import numpy as np

    from governance.analytics.io import connect

    con = connect()
    path = str(folder / f"scan_ref_{rows}_20.parquet")
    names = [c for c in pq.read_schema(path).names if c.startswith("num_")]
    src = f"read_parquet('{path}')"
    ranges = con.sql("SELECT " + ", ".join(f"min({c}), max({c})" for c in names) + f" FROM {src}").fetchall()[0]
    bins = {c: (ranges[2 * i], ranges[2 * i + 1], 4000 / (ranges[2 * i + 1] - ranges[2 * i]))
            for i, c in enumerate(names)}

    def group_by(aggs: str) -> str:
        return " UNION ALL ".join(
            f"SELECT {i} AS c, f, {aggs.format(lo=repr(lo))} FROM (SELECT CAST(floor((x - {lo!r}) * {k!r}) AS INTEGER)"
            f" AS f, x FROM (SELECT {c} AS x FROM {src} WHERE {c} BETWEEN {lo!r} AND {hi!r}) v) h GROUP BY f"
            for i, (c, (lo, hi, k)) in enumerate(bins.items()))

    keys = ", ".join(f"CAST(floor(({c} - {lo!r}) * {k!r}) AS INTEGER) AS f{i}"
                     for i, (c, (lo, _, k)) in enumerate(bins.items()))
    sets = f"SELECT {', '.join(f'f{i}' for i in range(len(names)))}, count(*) FROM (SELECT {keys} FROM {src}) " \
           f"GROUP BY GROUPING SETS ({', '.join(f'(f{i})' for i in range(len(names)))})"
    histogram = "SELECT " + ", ".join(f"histogram(CAST(floor(({c} - {lo!r}) * {k!r}) AS SMALLINT))"
                                      for c, (lo, _, k) in bins.items()) + f" FROM {src}"
    engine_aggs = "count(*), min(x), max(x), sum(x - {lo}), sum((x - {lo}) * (x - {lo}))"

    def numpy_bins() -> None:
        table = con.sql(f"SELECT {', '.join(names)} FROM {src}").to_arrow_table()
        for c, (lo, _, k) in bins.items():
            np.bincount(np.clip(np.floor((table.column(c).to_numpy() - lo) * k).astype(np.int64), 0, 3999))

    def one_thread(sql: str) -> None:
        con.execute("SET threads = 1")
        try:
            con.execute(sql).fetchall()
        finally:
            con.execute("RESET threads")

    def best(work) -> float:
        work()
        cpu = []
        for _ in range(runs):
            start = time.process_time()
            work()
            cpu.append(time.process_time() - start)
        return min(cpu)

    floor = best(lambda: con.execute("SELECT " + ", ".join(f"sum({c})" for c in names) + f" FROM {src}").fetchall())
    print(f"\nbinning alone, one side of {rows:,} × {len(names)} (CPU s, best of {runs}; one scan {floor:.3f} s) "
          f"{_load()}:")
    ways = [("GROUP BY, count only", lambda: con.execute(group_by("count(*)")).fetchall()),
            ("GROUP BY, the engine's 5", lambda: con.execute(group_by(engine_aggs)).fetchall()),
            ("  the same on 1 thread", lambda: one_thread(group_by(engine_aggs))),
            ("GROUPING SETS, one pass", lambda: con.execute(sets).fetchall()),
            ("histogram() aggregate", lambda: con.execute(histogram).fetchall()),
            ("Arrow + numpy bincount", numpy_bins)]
    for label, work in ways:
        cpu = best(work)
        print(f"  {label:<26} {cpu:7.3f} s   {cpu / floor:5.1f}× one scan")
    compiled = _compiled_binning(path, names, bins, runs)
    if compiled:
        fixed, cpu = compiled
        print(f"  {'pyarrow + numba loop':<26} {cpu:7.3f} s   {cpu / floor:5.1f}× one scan   (+ {fixed:.2f} s fixed: "
              "import numba and the first call, every process)")


def _compiled_binning(path: str, names: list[str], bins: dict, runs: int) -> tuple[float, float] | None:
    """Fine counts with per-bin min and max from a compiled loop over Parquet columns read by pyarrow: (fixed CPU
    seconds of importing numba and compiling or loading the loop, best CPU seconds of the work), in a fresh process."""
    code = f"""
import time, json
import numpy as np, pyarrow.parquet as pq
t = time.process_time()
import numba
@numba.njit(nogil=True)
def count(x, lo, hi, k, n, out, bmin, bmax):
    for v in x:
        if v >= lo and v <= hi:
            f = min(int((v - lo) * k), n - 1)
            out[f] += 1
            bmin[f] = min(bmin[f], v)
            bmax[f] = max(bmax[f], v)
count(np.zeros(1), 0.0, 1.0, 1.0, 1, np.zeros(1, np.int64), np.zeros(1), np.zeros(1))
fixed = time.process_time() - t
bins = {json.dumps(bins)}
best = None
for _ in range({runs}):
    t = time.process_time()
    table = pq.read_table({path!r}, columns={names!r})
    for c, (lo, hi, k) in bins.items():
        count(table.column(c).to_numpy(), lo, hi, k, 4000, np.zeros(4000, np.int64), np.full(4000, np.inf),
              np.full(4000, -np.inf))
    cpu = time.process_time() - t
    best = cpu if best is None else min(best, cpu)
print(json.dumps([fixed, best]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  pyarrow + numba loop: not measured ({proc.stderr.strip().splitlines()[-1:]})")
        return None
    fixed, cpu = json.loads(proc.stdout.strip().splitlines()[-1])
    return fixed, cpu


def approximation(folder: Path, rows: int) -> None:
    from governance.analytics.drift import DriftConfig, drift_files

    ref, cur = folder / f"scan_ref_{rows}_20.parquet", folder / f"scan_cur_{rows}_20.parquet"
    print("\nhistogram approximation vs exact merged sorted values (same data):")
    print(f"{'column':<8} {'method':<12} {'exact':>12} {'approx':>12} {'rel. error':>11} {'exact s':>8}")
    for method in ("wasserstein", "ks"):  # exact K-S/Wasserstein on 20M values takes about a minute per method
        start = time.perf_counter()
        exact = drift_files(ref, cur, DriftConfig(columns=("num_01",), num_method=method, exact_max_rows=10**12))
        t_exact = time.perf_counter() - start
        approx = drift_files(ref, cur, DriftConfig(columns=("num_01",), num_method=method))
        e, a = exact.columns[0], approx.columns[0]
        ev, av = (e.score, a.score) if method == "wasserstein" else (e.ks_statistic, a.ks_statistic)
        print(f"{'num_01':<8} {method + (' D' if method == 'ks' else ''):<12} {ev:>12.6g} {av:>12.6g} "
              f"{abs(av - ev) / max(abs(ev), 1e-300):>11.2e} {t_exact:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes: 100k vs Evidently, 1M + 1M vs a scan")
    parser.add_argument("--goals", action="store_true", help="only the two speed goals (parts 3 and 4, the binning "
                        "floors and the summary)")
    parser.add_argument("--child", nargs=4, metavar=("ENGINE", "REF", "CUR", "METHODS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    vs_rows, big_rows = (100_000, 1_000_000) if args.quick else (1_000_000, 10_000_000)
    with tempfile.TemporaryDirectory(prefix="cs-bench-drift-") as tmp:
        folder = Path(tmp)
        if not args.goals:
            import_cost(runs=7)
            versus_scan(folder, 100_000, N_NUM, N_CAT, 3.0, "2", runs=3, warm=True)
        vs_evidently = versus_evidently(folder, vs_rows)
        vs_scan = versus_scan(folder, big_rows, 20, 0, 1.5, "4", runs=1 if big_rows > 1_000_000 else 3)
        binning_floor(folder, big_rows, runs=1 if big_rows > 1_000_000 else 3)
        if not args.quick and not args.goals:
            approximation(folder, big_rows)
        summary(vs_evidently, vs_scan, (vs_rows, big_rows))


if __name__ == "__main__":
    main()
