"""Benchmark: ZenML sync against a bare REST loop, on two real ZenML 0.98.0 servers.

Starts 2 servers (their own cached virtualenv, see tests/connectors/zenml_server.py), seeds 20 models × 15 versions
on each (``--quick``: 5 × 4) with run metadata, half of them staged, then times in one run:

  (a) the floor: a plain httpx loop making the same listing a full sync makes (models, model versions, their
      artifact and pipeline-run links, runs, steps, stacks; hydrated, paged by 200), per server in parallel,
      parsing the JSON and nothing else; like the portal it keeps its login token between runs;
  (b) ``countersign sync --full`` (governance.sync.sync): the same listing plus records and the catalog write;
  (c) a re-sync with no change at the source (incremental: ``updated=gte:<watermark>``).

Each figure is the best of ``--repeat`` runs (a fresh catalog for every full run). Goals: (b) ≤ 1.2 × (a) and
(b) ≥ 10 × (c).

    .venv/bin/python benchmarks/zenml_sync.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 servers × 5 models × 4 versions")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    models, versions = (5, 4) if args.quick else (20, 15)

    from governance.catalog import Catalog
    from governance.config import Workspace, load_settings
    from governance.identity import Identity
    from governance.sync import sync
    from tests.connectors.zenml_server import ensure_venv, start_server

    t = time.perf_counter()
    python, built = ensure_venv()
    state = f"built in {built:.1f} s" if built else "cached"
    print(f"ZenML virtualenv: {state} ({time.perf_counter() - t:.1f} s)")
    tmp = Path(tempfile.mkdtemp(prefix="zenml-bench-"))
    with ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda i: start_server(tmp / f"server{i}", python=python), range(2)))
    print("servers started in " + ", ".join(f"{s.start_seconds:.1f} s" for s in servers) + " (in parallel)")
    try:
        t = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: seed(s, models, versions), servers))
        print(f"seeded 2 × {models} models × {versions} versions in {time.perf_counter() - t:.1f} s")

        toml = ""
        for i, s in enumerate(servers):
            var = f"ZENML_BENCH_KEY_{i}"
            os.environ[var] = s.api_key
            toml += (f'[[accounts]]\nname = "zen{i}"\nenvironment = "dev"\nconnector = "zenml"\nurl = "{s.url}"\n'
                     f'api_key_env = "{var}"\nstage_environments = {{ staging = "staging", production = "prod" }}\n')
        actor = Identity("bench@example.com", frozenset({"admin"}), source="cli")
        tokens: dict[str, str] = {}
        clients: dict[str, object] = {}
        floor(servers, tokens, clients)  # warm-up: logs in once (~2 s per server), like the connector's first sync
        a = min(floor(servers, tokens, clients) for _ in range(args.repeat))

        def full_run(n: int) -> tuple[float, Workspace, Catalog, int]:
            ws = Workspace(tmp / f"ws{n}")
            ws.ensure_dirs()
            ws.config_path.write_text(toml)
            catalog = Catalog(ws.catalog_path)
            catalog.migrate()
            start = time.perf_counter()
            report = sync(ws, load_settings(ws), catalog, actor=actor, full=True)
            took = time.perf_counter() - start
            assert report.ok and all(r.status == "ok" for r in report.results), report
            return took, ws, catalog, sum(r.calls for r in report.results)

        full_run(-1)  # warm-up: the connector's first login per server
        runs = [full_run(n) for n in range(args.repeat)]
        b, ws, catalog, b_calls = min(runs, key=lambda r: r[0])
        count = catalog.query_df("SELECT count(*) AS n FROM versions").iloc[0]["n"]
        c_runs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report = sync(ws, load_settings(ws), catalog, actor=actor)
            c_runs.append((time.perf_counter() - start, sum(r.calls for r in report.results)))
        c, c_calls = min(c_runs)
        print(f"(a) REST floor (same listing)        {a[0]:7.3f} s  {a[1]:4d} calls")
        print(f"(b) countersign sync --full          {b:7.3f} s  {b_calls:4d} calls  ({count} versions)")
        print(f"(c) re-sync, no change               {c:7.3f} s  {c_calls:4d} calls")
        print(f"(b)/(a) = {b / a[0]:.2f} (goal ≤ 1.2)   (b)/(c) = {b / c:.1f} (goal ≥ 10)")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
