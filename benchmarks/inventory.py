"""Inventory at scale: the Inventory page (AppTest run) and `countersign models --json` on 10,000 versions.

Run: .venv/bin/python benchmarks/inventory.py [--versions 10000] [--quick]
Prints timings and the ratio against a plain pandas read of the same rows (the floor for any listing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.base import DeploymentRecord, ModelRecord, Snapshot, VersionRecord  # noqa: E402
from governance.catalog import Catalog  # noqa: E402


def build(root: Path, n_versions: int) -> Catalog:
    """A workspace with ``n_versions`` synthetic versions over 3 accounts, written through apply_snapshot."""
    envs = ["dev", "staging", "prod"]
    cfg = '[workspace]\nname = "Benchmark"\ndemo = true\n[roles]\n"risk.officer@demo.countersign.dev" = ["risk_officer"]\n'
    for env in envs:
        cfg += f'[[accounts]]\nname = "acc-{env}"\nenvironment = "{env}"\nconnector = "folder"\npath = "registry/{env}"\n'
        (root / "registry" / env).mkdir(parents=True)
    (root / "countersign.toml").write_text(cfg)
    cat = Catalog(root / "catalog.duckdb")
    cat.migrate()
    per_account = n_versions // len(envs)
    t0 = dt.datetime(2026, 1, 1)
    for env in envs:
        versions = tuple(
            VersionRecord(
                model=f"model-{k % 400:03d}", version=k // 400 + 1, source_ref=f"model-{k % 400:03d}/{k // 400 + 1}",
                approval_status=("Approved", "PendingManualApproval", "Rejected")[k % 3],
                created_at=t0 + dt.timedelta(minutes=k), created_by=f"ds{k % 17}@bank.example",
                metrics={"auc": 0.7 + (k % 100) / 1000, "accuracy": 0.8}, data_uris={"reference": "x"},
            )
            for k in range(per_account)
        )
        deployments = tuple(
            DeploymentRecord(endpoint=f"ep-{m}", variant="AllTraffic", status="InService",
                             version_ref=f"model-{m:03d}/1")
            for m in range(0, 400, 7)
        )
        models = tuple(ModelRecord(name=f"model-{m:03d}", owner=f"team{m % 9}@bank.example",
                                   risk_tier=("high", "medium", "low")[m % 3]) for m in range(400))
        cat.apply_snapshot(sync_id=f"bench-{env}", account=f"acc-{env}", environment=env,
                           snapshot=Snapshot(models=models, versions=versions, deployments=deployments),
                           started_at=t0, full=True, actor="bench")
    return cat


def time_page(root: Path, runs: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    os.environ["COUNTERSIGN_WORKSPACE"] = str(root)
    os.chdir(ROOT)
    times = []
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["cs.persona"] = "risk.officer@demo.countersign.dev"
    at.run()  # first run pays imports and the cached workspace
    assert not at.exception, at.exception
    for i in range(runs):
        start = time.perf_counter()
        at.text_input(key="inv.text").set_value("model-0" if i % 2 else "").run()
        times.append(time.perf_counter() - start)
        assert not at.exception, at.exception
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2,000 versions, 4 runs")
    args = parser.parse_args()
    if args.quick:
        args.versions, args.runs = 2_000, 4
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        cat = build(root, args.versions)
        build_s = time.perf_counter() - start
        n = cat.counts()["versions"]

        start = time.perf_counter()
        for _ in range(5):
            cat.inventory()
        ours = (time.perf_counter() - start) / 5
        import duckdb

        start = time.perf_counter()
        for _ in range(5):
            with duckdb.connect(str(cat.path)) as con:
                con.execute("SELECT * FROM versions").df()
        floor = (time.perf_counter() - start) / 5

        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "countersign_cli", "models", "--workspace", str(root), "--json"],
                              capture_output=True, text=True, check=True)
        cli_s = time.perf_counter() - start
        assert len(proc.stdout) > 1000

        page = time_page(root, args.runs)
        p95 = sorted(page)[max(0, round(0.95 * len(page)) - 1)]
        print(f"catalog: {n} versions (written in {build_s:.2f} s through Catalog.apply_snapshot)")
        print(f"Catalog.inventory() query:         {ours * 1000:7.1f} ms  ({ours / floor:.2f}x a bare SELECT * of versions)")
        print(f"countersign models --json (process): {cli_s:7.2f} s  (includes Python start-up and imports)")
        print(f"Inventory page rerun (AppTest):     median {statistics.median(page):.3f} s, p95 {p95:.3f} s "
              f"over {len(page)} filter changes  (goal < 1 s)")


if __name__ == "__main__":
    main()
