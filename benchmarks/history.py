"""Registry history at scale: the as-of query over 1M history rows, and what history writing adds to a full sync.

Run: .venv/bin/python benchmarks/history.py [--rows 1000000] [--versions 600] [--quick]

1. As-of: ``Catalog.as_of`` (governance.catalog.history.AS_OF_SQL) over ``--rows`` version states plus a fifth as
   many deployment states, generated directly in DuckDB; compared in the same run with two naive approaches on the
   same rows: a pandas filter of the history already in memory, and a correlated "latest state per version"
   subquery. Target: < 200 ms.
2. Sync: a full folder sync of ``--versions`` versions (first sync: every state new; then a re-sync with a tenth of
   the versions changed) with history writing on and off (``RECORD_HISTORY``, switchable for this measurement
   only), alternating, on fresh catalogs. Target: history adds < 10 %.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from governance.catalog import Catalog  # noqa: E402
from governance.catalog import history as catalog_history  # noqa: E402
from governance.context import Context  # noqa: E402

T0 = dt.datetime(2025, 1, 1)


def build_history(path: Path, rows: int, per: int = 50) -> Catalog:
    """``rows`` version states (``per`` per version, contiguous intervals) and rows/5 deployment states."""
    cat = Catalog(path)
    cat.migrate()
    versions = rows // per
    with cat.transaction() as con:
        con.execute(
            f"""
            INSERT INTO version_history (
                history_id, version_id, account, environment, model, version, approval_status,
                approval_description, labels, card, created_at, created_by, modified_at, source_version_id,
                state_hash, valid_from, time_source, valid_to, valid_to_source, sync_id, ledger_seq, ledger_hash,
                request_id, closed_by_sync)
            SELECT 'bench:' || i AS history_id, 'acc-' || (v % 3) || ':model-' || (v % 2000) || ':' || v AS version_id,
                   'acc-' || (v % 3), ['dev', 'staging', 'prod'][v % 3 + 1], 'model-' || (v % 2000), v,
                   ['PendingManualApproval', 'Approved', 'Rejected'][s % 3 + 1], NULL, '[]', NULL,
                   TIMESTAMP '{T0}', 'ds@x', NULL, NULL, md5(i::VARCHAR),
                   TIMESTAMP '{T0}' + INTERVAL (v % 1000) MINUTE + INTERVAL (s * 7) DAY,
                   CASE WHEN s % 2 = 0 THEN 'source' ELSE 'sync' END,
                   CASE WHEN s < {per - 1}
                        THEN TIMESTAMP '{T0}' + INTERVAL (v % 1000) MINUTE + INTERVAL ((s + 1) * 7) DAY END,
                   CASE WHEN s < {per - 1} THEN 'source' END,
                   'sync-' || s, s, md5(s::VARCHAR), NULL, NULL
            FROM (SELECT i, i // {per} AS v, i % {per} AS s FROM range({versions * per}) t(i))
            """
        )
        con.execute(
            f"""
            INSERT INTO deployment_history (
                history_id, deployment_id, account, environment, endpoint, variant, status, model, version_id,
                weight, updated_at, state_hash, valid_from, time_source, valid_to, valid_to_source, sync_id,
                ledger_seq, ledger_hash, request_id, closed_by_sync)
            SELECT 'dep:' || i, 'acc-' || (v % 3) || ':ep-' || (v % 5000) || ':AllTraffic', 'acc-' || (v % 3),
                   ['dev', 'staging', 'prod'][v % 3 + 1], 'ep-' || (v % 5000), 'AllTraffic', 'InService',
                   'model-' || (v % 2000), 'acc-' || (v % 3) || ':model-' || (v % 2000) || ':' || v, 1.0, NULL,
                   md5(i::VARCHAR), TIMESTAMP '{T0}' + INTERVAL (s * 73) DAY, 'sync',
                   CASE WHEN s < 4 THEN TIMESTAMP '{T0}' + INTERVAL ((s + 1) * 73) DAY END,
                   CASE WHEN s < 4 THEN 'sync' END, 'sync-' || s, s, md5(s::VARCHAR), NULL, NULL
            FROM (SELECT i, (i // 5) * 5 AS v, i % 5 AS s FROM range({rows // 5}) t(i))
            """
        )
        con.execute("INSERT INTO history_gaps (gap_id, account, gap_from, gap_to, reason, sync_id, detail) "
                    f"VALUES ('g1', 'acc-1', TIMESTAMP '{T0}' + INTERVAL 100 DAY, "
                    f"TIMESTAMP '{T0}' + INTERVAL 101 DAY, 'failed sync', 'sync-x', NULL)")
    return cat


def bench_as_of(rows: int, runs: int, per: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        cat = build_history(Path(tmp) / "catalog.duckdb", rows, per)
        build_s = time.perf_counter() - t
        instant = T0 + dt.timedelta(days=7 * per // 2, hours=3)
        with cat.keep_open(linger=5):
            cat.as_of(instant)  # warm
            ours = []
            for _ in range(runs):
                t = time.perf_counter()
                answer = cat.as_of(instant)
                ours.append(time.perf_counter() - t)
            frame = cat.query_df("SELECT * FROM version_history")
            deps = cat.query_df("SELECT * FROM deployment_history")
            naive_pd = []
            for _ in range(runs):
                t = time.perf_counter()
                v = frame[(frame.valid_from <= instant) & (frame.valid_to.isna() | (frame.valid_to > instant))]
                d = deps[(deps.valid_from <= instant) & (deps.valid_to.isna() | (deps.valid_to > instant))]
                on = d.groupby("version_id")["endpoint"].agg(lambda s: ", ".join(sorted(s))).rename("deployed_on")
                pd_answer = v.merge(on, left_on="version_id", right_index=True, how="left")
                naive_pd.append(time.perf_counter() - t)
            naive_sql = []
            with cat.connect() as con:
                for _ in range(max(1, runs // 2)):
                    t = time.perf_counter()
                    n_corr = len(con.execute(
                        "SELECT * FROM version_history h WHERE valid_from = (SELECT max(valid_from) FROM "
                        "version_history h2 WHERE h2.version_id = h.version_id AND h2.valid_from <= ?) "
                        "AND (valid_to IS NULL OR valid_to > ?)", [instant, instant]).fetchall())
                    naive_sql.append(time.perf_counter() - t)
        assert len(pd_answer) == len(answer) == n_corr, (len(pd_answer), len(answer), n_corr)
        return {"build_s": build_s, "rows": len(frame), "dep_rows": len(deps), "answer_rows": len(answer),
                "ours_ms": statistics.median(ours) * 1000,  "pandas_ms": statistics.median(naive_pd) * 1000,
                "correlated_ms": statistics.median(naive_sql) * 1000}


def write_registry(base: Path, versions: int, *, change_every: int = 0) -> None:
    for k in range(versions):
        model, n = f"model-{k % 30:02d}", k // 30 + 1
        vdir = base / model / str(n)
        vdir.mkdir(parents=True, exist_ok=True)
        if not (vdir / "model.skops").exists():
            (vdir / "model.skops").write_bytes(b"x" * 64 + str(k).encode())
        changed = change_every and k % change_every == 0
        (vdir / "metadata.json").write_text(json.dumps({
            "approval_status": "Approved" if changed else ("PendingManualApproval", "Approved")[k % 2],
            "created_at": "2026-03-01T10:00:00Z", "created_by": "ds@x", "metrics": {"auc": 0.8},
            "modified_at": "2026-03-02T10:00:00Z" if changed else "2026-03-01T10:00:00Z"}))
    (base / "deployments.json").write_text(json.dumps(
        [{"endpoint": f"ep-{m}", "model": f"model-{m:02d}", "version": 1} for m in range(30)]))


def bench_sync(versions: int, reps: int) -> dict[str, list[float]]:
    from governance.config import Workspace, load_settings
    from governance.identity import Identity
    from governance.sync import sync

    admin = Identity("admin@x", frozenset({"admin"}))
    out: dict[str, list[float]] = {"first_on": [], "first_off": [], "resync_on": [], "resync_off": [],
                                   "first_hist": [], "resync_hist": []}
    spent = [0.0]

    def timed(fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[0] += time.perf_counter() - t
        return wrapper

    originals = {n: getattr(catalog_history, n) for n in ("record_history", "record_observation")}
    for n, fn in originals.items():
        setattr(catalog_history, n, timed(fn))
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(reps):
            for on in ((True, False) if rep % 2 == 0 else (False, True)):
                root = Path(tmp) / f"ws-{rep}-{on}"
                (root / "reg").mkdir(parents=True)
                (root / "countersign.toml").write_text(
                    '[[accounts]]\nname = "lab"\nenvironment = "prod"\nconnector = "folder"\npath = "reg"\n')
                write_registry(root / "reg", versions)
                ws = Workspace(root)
                settings = load_settings(ws, {})
                cat = Catalog(ws.catalog_path)
                cat.migrate()
                catalog_history.RECORD_HISTORY = on
                try:
                    spent[0] = 0.0
                    t = time.perf_counter()
                    assert sync(Context(ws, settings, cat, admin), full=True).ok
                    total = time.perf_counter() - t
                    out["first_on" if on else "first_off"].append(total)
                    if on:
                        out["first_hist"].append(spent[0] / total)
                    write_registry(root / "reg", versions, change_every=10)
                    spent[0] = 0.0
                    t = time.perf_counter()
                    assert sync(Context(ws, settings, cat, admin), full=True).ok
                    total = time.perf_counter() - t
                    out["resync_on" if on else "resync_off"].append(total)
                    if on:
                        out["resync_hist"].append(spent[0] / total)
                finally:
                    catalog_history.RECORD_HISTORY = True
                shutil.rmtree(root)
    for n, fn in originals.items():
        setattr(catalog_history, n, fn)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--versions", type=int, default=600)
    parser.add_argument("--per-version", type=int, default=50, help="history states per version")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="200,000 rows, 300 versions, fewer runs")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.versions, args.runs, args.reps = 200_000, 300, 5, 4

    import os

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work slows every figure)")
    a = bench_as_of(args.rows, args.runs, args.per_version)
    print(f"history: {a['rows']:,} version states + {a['dep_rows']:,} deployment states "
          f"(generated in {a['build_s']:.1f} s); as-of answer: {a['answer_rows']:,} versions")
    print(f"Catalog.as_of (AS_OF_SQL, DataFrame): median {a['ours_ms']:7.1f} ms  (target < 200 ms)")
    print(f"naive pandas filter (in memory):    median {a['pandas_ms']:7.1f} ms  "
          f"({a['pandas_ms'] / a['ours_ms']:.1f}x ours)")
    print(f"naive correlated subquery (DuckDB): median {a['correlated_ms']:7.1f} ms  "
          f"({a['correlated_ms'] / a['ours_ms']:.1f}x ours)")

    s = bench_sync(args.versions, args.reps)
    for kind in ("first", "resync"):
        on, off = statistics.median(s[f"{kind}_on"]), statistics.median(s[f"{kind}_off"])
        label = "first full sync" if kind == "first" else "full re-sync, 10% changed"
        share = statistics.median(s[f"{kind}_hist"]) * 100
        print(f"{label:<27} {args.versions} versions: with history {on:.3f} s, without {off:.3f} s "
              f"({(on / off - 1) * 100:+.1f} %, noisy); history writing measured inside the sync: "
              f"{share:.1f} % of it (target < 10 %)")


if __name__ == "__main__":
    main()
