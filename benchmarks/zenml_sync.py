"""Benchmark: ZenML sync against a bare REST loop, on two real ZenML 0.98.0 servers.

Starts 2 servers (their own cached virtualenv, see tests/connectors/zenml_server.py), seeds 20 models × 15 versions
on each (``--quick``: 5 × 4) with run metadata, half of them staged, then times in one run:

  (a) the floor: a plain httpx loop making the same listing a full sync makes (models, model versions, their
      artifact and pipeline-run links, runs, steps, stacks; hydrated, paged by 200), per server in parallel,
      parsing the JSON and nothing else; like the portal it keeps its login token between runs;
  (b) ``countersign sync --full`` (governance.sync.sync): the same listing plus records and the catalog write;
  (c) a re-sync with no change at the source (incremental: ``updated=gte:<watermark>``);
  (f) the bare calls a no-change re-sync cannot avoid (the three incremental listings per server, answering
      nothing), side by side.

The figures come from ``--repeat`` interleaved rounds (floor, full sync into a fresh catalog, no-change
re-sync, bare no-change listings), so load from other work on the machine falls on every side alike; each is
reported as best and median, and the ratios are taken best to best and median to median. Goals: (b) ≤ 1.2 × (a)
and (b) ≥ 10 × (c).

    .venv/bin/python benchmarks/zenml_sync.py [--quick] [--repeat N] [--keep servers.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from governance.context import Context

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LISTINGS = (("/models", "updated", True), ("/model_versions", "updated", True),
            ("/model_version_artifacts", "created", False), ("/model_version_pipeline_runs", "created", False),
            ("/runs", "updated", True), ("/steps", "updated", True))


def seed(server, models: int, versions: int) -> None:
    from tests.connectors.zenml_driver import ZenMLDriver

    driver = ZenMLDriver(server, server.data_dir)
    for m in range(models):
        model = driver.create_model(f"model-{m:02d}", description=f"model {m}", license="MIT", use_cases="bench",
                                    tags=["risk_tier:medium"])
        ids = [driver.add_version(model)["id"] for _ in range(versions)]
        driver.set_metadata(ids[-1], {"auc": 0.9, "countersign.approval": "Approved"}, touch=False)
        driver.set_stage(ids[-1], "production")
        if len(ids) > 1:
            driver.set_stage(ids[-2], "staging")


def floor(servers, tokens: dict[str, str], clients: dict[str, object]) -> tuple[float, int]:
    """The bare listing loop over every server (in parallel, as governance.sync runs accounts)."""
    import httpx

    def one(server) -> int:
        http = clients.get(server.url)
        if http is None:
            http = clients[server.url] = httpx.Client(base_url=server.url + "/api/v1", timeout=60)
        if server.url not in tokens:
            tokens[server.url] = http.post("/login", data={"password": server.api_key}).json()["access_token"]
        headers = {"Authorization": f"Bearer {tokens[server.url]}"}
        calls = 1
        project = http.get("/projects/default", headers=headers).json()["id"]
        for path, field, scoped in LISTINGS:
            page = 1
            while True:
                params = {"sort_by": f"asc:{field}", "page": page, "size": 200, "hydrate": "true"}
                if scoped:
                    params["project"] = project
                data = http.get(path, params=params, headers=headers).json()
                calls += 1
                if page >= data["total_pages"]:
                    break
                page += 1
        http.get("/stacks", params={"hydrate": "true", "size": 200}, headers=headers).json()
        return calls + 1

    start = time.perf_counter()
    with ThreadPoolExecutor(len(servers)) as pool:
        calls = sum(pool.map(one, servers))
    return time.perf_counter() - start, calls


def nochange_floor(servers, tokens: dict[str, str], clients: dict[str, object], cut: str) -> tuple[float, int]:
    """The bare calls a no-change re-sync cannot avoid: the three incremental listings (models, versions, runs
    updated since ``cut``), side by side per server, servers in parallel; each answers an empty page."""
    def one(args) -> int:
        server, path = args
        headers = {"Authorization": f"Bearer {tokens[server.url]}"}
        params = {"sort_by": "asc:updated", "updated": f"gte:{cut}", "hydrate": "true", "page": 1, "size": 200,
                  "project": server.project_id}
        clients[server.url].get(path, params=params, headers=headers).json()
        return 1

    jobs = [(s, path) for s in servers for path in ("/models", "/model_versions", "/runs")]
    start = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        calls = sum(pool.map(one, jobs))
    return time.perf_counter() - start, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 servers × 5 models × 4 versions")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds (default 7); best and median reported")
    parser.add_argument("--keep", help="a JSON file: servers started and seeded once are written there and kept "
                        "running; a later run given the same file measures them again (stop them with kill)")
    args = parser.parse_args()
    models, versions = (5, 4) if args.quick else (20, 15)

    from governance.catalog import Catalog
    from governance.config import Workspace, load_settings
    from governance.identity import Identity
    from governance.sync import sync
    from tests.connectors.zenml_server import ZenMLServer, ensure_venv, start_server

    tmp = Path(tempfile.mkdtemp(prefix="zenml-bench-"))
    keep = Path(args.keep) if args.keep else None
    if keep is not None and keep.exists():
        servers = [ZenMLServer(**{**d, "data_dir": Path(d["data_dir"])}) for d in json.loads(keep.read_text())]
        print(f"servers from {keep}: " + ", ".join(s.url for s in servers))
    else:
        t = time.perf_counter()
        python, built = ensure_venv()
        state = f"built in {built:.1f} s" if built else "cached"
        print(f"ZenML virtualenv: {state} ({time.perf_counter() - t:.1f} s)")
        with ThreadPoolExecutor(2) as pool:
            servers = list(pool.map(lambda i: start_server(tmp / f"server{i}", python=python), range(2)))
        print("servers started in " + ", ".join(f"{s.start_seconds:.1f} s" for s in servers) + " (in parallel)")
        t = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: seed(s, models, versions), servers))
        print(f"seeded 2 × {models} models × {versions} versions in {time.perf_counter() - t:.1f} s")
        if keep is not None:
            keep.write_text(json.dumps([{k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(s).items()
                                         if k not in ("process", "_client", "start_seconds")} for s in servers]))
    try:
        toml = ""
        for i, s in enumerate(servers):
            var = f"ZENML_BENCH_KEY_{i}"
            os.environ[var] = s.api_key
            toml += (f'[[accounts]]\nname = "zen{i}"\nenvironment = "dev"\nconnector = "zenml"\nurl = "{s.url}"\n'
                     f'api_key_env = "{var}"\nstage_environments = {{ staging = "staging", production = "prod" }}\n')
        actor = Identity("bench@example.com", frozenset({"admin"}), source="cli")
        tokens: dict[str, str] = {}
        clients: dict[str, object] = {}

        def full_run(name: str) -> tuple[float, Workspace, Catalog, int]:
            ws = Workspace(tmp / name)
            ws.ensure_dirs()
            ws.config_path.write_text(toml)
            catalog = Catalog(ws.catalog_path)
            catalog.migrate()
            start = time.perf_counter()
            report = sync(Context(ws, load_settings(ws), catalog, actor), full=True)
            took = time.perf_counter() - start
            assert report.ok and all(r.status == "ok" for r in report.results), report
            return took, ws, catalog, sum(r.calls for r in report.results)

        def again_run(ws: Workspace, catalog: Catalog) -> tuple[float, int]:
            start = time.perf_counter()
            report = sync(Context(ws, load_settings(ws), catalog, actor))
            took = time.perf_counter() - start
            assert report.ok and all(r.status == "ok" and not (r.counts.added + r.counts.updated)
                                     for r in report.results), report
            return took, sum(r.calls for r in report.results)

        # warm-up: each side logs in once (~2 s per server), as the portal's process does on its first sync
        floor(servers, tokens, clients)
        _, shared_ws, shared_catalog, _ = full_run("shared")
        cut = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
        # interleaved rounds: a burst of load from other work on the machine hits every side alike
        a_runs, b_runs, c_runs, f_runs = [], [], [], []
        for n in range(args.repeat):
            a_runs.append(floor(servers, tokens, clients))
            took, _, catalog, calls = full_run(f"ws{n}")
            b_runs.append((took, calls))
            c_runs.append(again_run(shared_ws, shared_catalog))
            f_runs.append(nochange_floor(servers, tokens, clients, cut))
        count = catalog.query_df("SELECT count(*) AS n FROM versions").iloc[0]["n"]

        def best(runs: list) -> float:
            return min(r[0] for r in runs)

        def median(runs: list) -> float:
            return statistics.median(r[0] for r in runs)

        print(f"{args.repeat} interleaved rounds; seconds as best / median")
        print(f"(a) REST floor (same listing)        {best(a_runs):6.3f} / {median(a_runs):6.3f}  {a_runs[0][1]:3d} calls")
        print(f"(b) countersign sync --full          {best(b_runs):6.3f} / {median(b_runs):6.3f}  {b_runs[0][1]:3d} calls"
              f"  ({count} versions)")
        print(f"(c) re-sync, no change               {best(c_runs):6.3f} / {median(c_runs):6.3f}  {c_runs[0][1]:3d} calls")
        print(f"(f) bare no-change listings          {best(f_runs):6.3f} / {median(f_runs):6.3f}  {f_runs[0][1]:3d} calls"
              "  (the 3 incremental listings per server, nothing else)")
        for label, pick in (("best", best), ("median", median)):
            print(f"{label:6s}: (b)/(a) = {pick(b_runs) / pick(a_runs):.2f} (goal ≤ 1.2)   (b)/(c) = "
                  f"{pick(b_runs) / pick(c_runs):.1f} (goal ≥ 10)   (b)/(f) = {pick(b_runs) / pick(f_runs):.1f} "
                  "(the most a no-change re-sync making these calls could reach)")
    finally:
        if keep is None:
            for s in servers:
                s.stop()


if __name__ == "__main__":
    main()
