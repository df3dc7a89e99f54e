"""Benchmark: MLflow sync against a bare REST floor, on 3 real `mlflow server` processes.

Seeds 3 servers × 20 models × 25 versions, each version with its own run (``--quick``: 3 × 5 × 4), then times:

  (a) the floor: a bare httpx loop making the same listing as the connector (registered models with their
      aliases, model versions in pages of 200, experiments, the runs behind the versions in batches of 100, and the
      identity of each version's artifact its digest is remembered by: the directory listing and a HEAD per file,
      4 at a time), one thread per server (as governance.sync runs accounts side by side), parsing JSON and
      nothing more;
  (b) ``countersign sync --full`` (governance.sync.sync) into a fresh catalog: the same calls plus mapping to
      records and the catalog and ledger writes, every row new;
  (b') ``countersign sync --full`` again, over a catalog that has every row already (the scheduled full pass every
      ``full_sync_every_hours``): the same calls, the rows compared and none written;
  (c) a re-sync with no change at the sources;
  (f) the bare calls such a re-sync cannot avoid: per server the model listing and a first page of versions.

The servers come from the cached virtualenv of tests/servers/mlflow_server.py (built on first use). The figures are
measured in ``--repeat`` interleaved rounds (floor, full sync into a fresh catalog, no-change re-sync, full pass
again, extract-only runs), so load from other work on the machine falls on every side alike; each is reported as
best and median of its rounds, and the ratios are taken best to best and median to median. Each timing starts from
a collected heap (``gc.collect()`` outside the timing), so no side pays for a full collection the garbage of the one
before made due. Goals: (b) ≤ 1.2 × (a) and (b) ≥ 10 × (c).

Where the servers run matters. By default they share the machine's cores with the benchmark, as in CI: the floor is
then bound by the servers' CPU, and every CPU second the sync spends on its catalog (the floor spends none) lengthens
the run; the CPU seconds of this process are printed for (a) and (b), and those of the servers when they run on
this machine (read from /proc), so the CPU each side costs the machine is on every report. ``--pin`` puts the
servers it starts on the first core and this process on the others, as when the registries run on other machines
(as they do): the catalog work then overlaps the servers' instead of taking turns with it.

``--postgres`` puts the catalog and ledger on a PostgreSQL server (Debian's, started here with fsync on; the
``[catalog] url`` of a deployment with several replicas) instead of the workspace's DuckDB file: no file to attach
(~4 ms) and checkpoint on release (~5-10 ms) around every sync.

    .venv/bin/python benchmarks/mlflow_sync.py [--quick] [--repeat N] [--pin] [--postgres]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from governance.context import Context

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def seed(url: str, models: int, versions: int) -> None:
    """Models, each version with its own run (params, metrics) and an alias on the newest."""
    from tests.connectors.mlflow_driver import MlflowDriver
    from tests.servers.mlflow_server import MlflowServer

    server = MlflowServer(Path("."))
    server.port = int(url.rsplit(":", 1)[1])
    d = MlflowDriver(server)
    for m in range(models):
        name = f"model-{m:02d}"
        d.create_model(name, description=f"benchmark model {m}", tags={"team": "bench"})
        for _ in range(versions):
            run = d.post("runs/create", {"experiment_id": d.experiment(), "run_name": name, "start_time": 1})
            run_id = run["run"]["info"]["run_id"]
            d.post("runs/log-batch", {"run_id": run_id, "params": [{"key": "max_depth", "value": "4"}],
                                      "metrics": [{"key": "auc", "value": 0.8, "timestamp": 1, "step": 0}]})
            # the listing is what is measured: the model directory itself is not uploaded
            source = run["run"]["info"]["artifact_uri"] + "/model"
            d.post("model-versions/create", {"name": name, "source": source, "run_id": run_id})
        d.set_alias(name, "champion", versions)
    d.close()


def floor(urls: list[str]) -> tuple[float, int, float]:
    """The same listing as the connector, and the identity of each version's artifact, as a bare loop per server;
    seconds, calls and CPU seconds of this process."""
    import httpx

    calls = [0]
    lock = threading.Lock()

    def one(url: str) -> None:
        n = 0
        with httpx.Client(base_url=url + "/api/2.0/mlflow", timeout=60) as c:
            def pages(method: str, endpoint: str, key: str, params: dict) -> list:
                nonlocal n
                out, token = [], None
                while True:
                    q = {**params, **({"page_token": token} if token else {})}
                    r = c.post(endpoint, json=q) if method == "POST" else c.get(endpoint, params=q)
                    n += 1
                    data = r.json()
                    out += data.get(key) or []
                    token = data.get("next_page_token")
                    if not token:
                        return out

            pages("GET", "registered-models/search", "registered_models", {"max_results": 1000})
            mvs = pages("GET", "model-versions/search", "model_versions",
                        {"max_results": 200, "order_by": ["creation_timestamp ASC"]})
            exps = [e["experiment_id"] for e in pages("POST", "experiments/search", "experiments",
                                                       {"max_results": 1000, "view_type": "ALL"})]
            ids = sorted({v["run_id"] for v in mvs if v.get("run_id")})
            for i in range(0, len(ids), 100):
                batch = ids[i:i + 100]
                quoted = ", ".join(f"'{r}'" for r in batch)
                pages("POST", "runs/search", "runs", {"experiment_ids": exps, "max_results": len(batch),
                                                     "run_view_type": "ALL",
                                                     "filter": f"attributes.run_id IN ({quoted})"})
        # the identity of each version's artifact (what a digest is remembered by, connectors/digests.py): the
        # listing of its directory and a HEAD of each file (of the path itself when it lists nothing), 4 at a time
        with httpx.Client(base_url=url + "/api/2.0/mlflow-artifacts/artifacts", timeout=60) as a:
            def identity(v: dict) -> int:
                path = (v.get("source") or "").removeprefix("mlflow-artifacts:/")
                files = a.get("", params={"path": path}).json().get("files") or []
                for f in files or [{"path": ""}]:
                    a.head(f"/{path}/{f['path'].rsplit('/', 1)[-1]}".rstrip("/"))
                return 1 + max(len(files), 1)

            with ThreadPoolExecutor(4) as artifacts:
                n += sum(artifacts.map(identity, mvs))
        with lock:
            calls[0] += n

    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(len(urls)) as pool:
        list(pool.map(one, urls))
    return time.perf_counter() - start, calls[0], time.process_time() - cpu


def nochange_floor(urls: list[str], clients: dict[str, object]) -> tuple[float, int]:
    """The bare calls a no-change re-sync cannot avoid: per server the model listing (aliases have no timestamp, so
    every sync reads them) and a first page of 20 versions, newest first; side by side, servers in parallel."""
    import httpx

    for url in urls:
        if url not in clients:
            clients[url] = httpx.Client(base_url=url + "/api/2.0/mlflow", timeout=60)

    def one(job: tuple[str, str]) -> int:
        url, endpoint = job
        params = ({"max_results": 1000} if endpoint == "registered-models/search"
                  else {"max_results": 20, "order_by": ["last_updated_timestamp DESC"]})
        clients[url].get(endpoint, params=params).json()
        return 1

    jobs = [(u, e) for u in urls for e in ("registered-models/search", "model-versions/search")]
    start = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        calls = sum(pool.map(one, jobs))
    return time.perf_counter() - start, calls


def server_pids(urls: list[str]) -> list[int]:
    """The processes of the local servers behind ``urls`` (an ``mlflow server`` and its uvicorn worker each: both
    name the port on their command line); none for servers elsewhere."""
    pids: list[int] = []
    for url in urls:
        host, _, port = url.rsplit("/", 1)[-1].rpartition(":")
        if host not in ("127.0.0.1", "localhost"):
            continue
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes().split(b"\0")
            except OSError:
                continue
            at = args.index(b"--port") + 1 if b"--port" in args else len(args)
            if at < len(args) and args[at] == port.encode() and any(b"mlflow" in a for a in args):
                pids.append(int(cmdline.parent.name))
    return pids


def cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes ``pids`` have used so far (Linux /proc; 0 where gone)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu(postmaster: int) -> float:
    """CPU seconds a PostgreSQL server has used so far: the postmaster, the backends it has reaped, and those alive
    (a backend's CPU moves to the postmaster's reaped total when it exits, so none is lost or counted twice)."""
    try:
        stat = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    except OSError:
        return 0.0
    own = sum(int(f) for f in stat[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + cpu_of([int(c) for c in children])


def no_meter() -> tuple[float, float]:
    return 0.0, 0.0


def countersign_sync(ws_root: Path, *, full: bool, meter: Callable[[], tuple[float, float]] = no_meter,
                     ) -> tuple[float, int, int, float, tuple[float, float]]:
    """Seconds, calls, rows changed, CPU seconds of this process, and what ``meter`` (CPU seconds of the servers
    and of PostgreSQL so far) moved by, all over the sync alone (the catalog's migration comes before)."""
    from governance.catalog import Catalog
    from governance.config import Workspace, load_settings
    from governance.identity import Identity
    from governance.sync import sync

    ws = Workspace(ws_root)
    settings = load_settings(ws)
    catalog = Catalog(ws.catalog_path, url=settings.catalog.url)
    catalog.migrate()
    actor = Identity("benchmark@example.com", frozenset({"admin"}), source="cli")
    outside = meter()
    start, cpu = time.perf_counter(), time.process_time()
    report = sync(Context(ws, settings, catalog, actor), full=full)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    outside = tuple(b - a for a, b in zip(outside, meter(), strict=True))
    bad = [r for r in report.results if r.status != "ok"]
    if bad:
        raise SystemExit(f"sync failed: {[(r.account, r.error, r.issues) for r in bad]}")
    changed = sum((r.counts.added + r.counts.updated + r.counts.deleted) if r.counts else 0 for r in report.results)
    return seconds, sum(r.calls for r in report.results), changed, cpu, outside


def extract_only(urls: list[str], watermarks: list[str | None]) -> tuple[float, list[str | None]]:
    """The connector's share alone: extract every server in turn (no catalog, no ledger)."""
    from connectors.base import AccountInfo
    from connectors.mlflow import MlflowConnector, MlflowSettings

    cache = Path(tempfile.mkdtemp(prefix="countersign-mlflow-extract-"))
    start = time.perf_counter()
    marks = []
    for i, (url, since) in enumerate(zip(urls, watermarks, strict=True)):
        conn = MlflowConnector(MlflowSettings(tracking_uri=url), AccountInfo(f"mlflow-{i}", "dev"),
                               root=cache, cache_dir=cache)
        marks.append(conn.extract(since, full=since is None).watermark)
    return time.perf_counter() - start, marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 servers × 5 models × 4 versions")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds (default 7); best and median reported")
    parser.add_argument("--servers", help="comma-separated URLs of 3 running servers seeded already (skips start-up "
                        "and seeding; for repeated measurements)")
    parser.add_argument("--postgres", action="store_true", help="the catalog on a PostgreSQL server started here")
    parser.add_argument("--pin", action="store_true", help="servers on the first core, this process on the others "
                        "(with --servers: only this process; pin the servers yourself, taskset -a -p -c 0 PID)")
    args = parser.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin and len(cpus) < 2:
        raise SystemExit("--pin needs at least 2 cores")
    models, versions = (5, 4) if args.quick else (20, 25)

    from tests.connectors.mlflow_driver import write_workspace
    from tests.servers.mlflow_server import start_servers

    tmp = Path(tempfile.mkdtemp(prefix="countersign-mlflow-bench-"))
    servers = []
    postgres = None
    try:
        if args.postgres:
            from tests.servers.postgres_server import PostgresServer, available

            if not available():
                raise SystemExit("--postgres needs Debian's postgresql package (make system-deps)")
            postgres = PostgresServer(fsync=True).start()
            print(f"PostgreSQL catalog on port {postgres.port} (fsync on)")
        if args.servers:
            urls = args.servers.split(",")
        else:
            t = time.perf_counter()
            if args.pin:
                os.sched_setaffinity(0, {cpus[0]})  # the servers' processes inherit it
            servers = start_servers([tmp / f"server{i}" for i in range(3)])
            print(f"3 mlflow servers up in {time.perf_counter() - t:.1f} s")
            urls = [s.url for s in servers]
            t = time.perf_counter()
            with ThreadPoolExecutor(3) as pool:
                list(pool.map(lambda u: seed(u, models, versions), urls))
            print(f"seeded 3 servers × {models} models × {versions} versions = {3 * models * versions} versions "
                  f"in {time.perf_counter() - t:.1f} s")

        if args.pin:
            os.sched_setaffinity(0, set(cpus[1:]))
            print(f"pinned: servers on core {cpus[0]}, this process on {', '.join(map(str, cpus[1:]))}")

        def workspace(name: str) -> Path:
            root = write_workspace(tmp / name, {f"mlflow-{i}": {"environment": "dev", "tracking_uri": u}
                                                for i, u in enumerate(urls)})
            if postgres is not None:  # a database of its own per workspace, as per deployment
                toml = root / "countersign.toml"
                toml.write_text(toml.read_text() + f'\n[catalog]\nurl = "{postgres.new_database("bench")}"\n')
            return root

        floor(urls)  # warm-up outside the timings (server caches, connections)
        countersign_sync(workspace("warm"), full=True)
        shared = workspace("resync")
        countersign_sync(shared, full=True)
        # interleaved rounds: a burst of load from other work on the machine hits both sides alike
        floor_runs, full_runs, again_runs, ex_full, ex_again, bare_again = [], [], [], [], [], []
        repass_runs = []
        clients: dict[str, object] = {}
        nochange_floor(urls, clients)
        def clean(run):  # each timing starts from a collected heap: no full collection owed by the one before
            gc.collect()
            return run()

        pids = server_pids(urls)
        postmaster = (int((postgres.folder / "data" / "postmaster.pid").read_text().split()[0])
                      if postgres is not None else None)
        def meter() -> tuple[float, float]:  # CPU seconds of the servers and of PostgreSQL so far
            return cpu_of(pids), postgres_cpu(postmaster) if postmaster else 0.0

        floor_outside = []

        def measured_floor():
            before = meter()
            out = floor(urls)
            floor_outside.append(tuple(b - a for a, b in zip(before, meter(), strict=True)))
            return out

        for i in range(args.repeat):
            floor_runs.append(clean(measured_floor))
            full_runs.append(clean(lambda i=i: countersign_sync(workspace(f"full{i}"), full=True, meter=meter)))
            again_runs.append(clean(lambda: countersign_sync(shared, full=False)))
            repass_runs.append(clean(lambda: countersign_sync(shared, full=True)))
            bare_again.append(clean(lambda: nochange_floor(urls, clients)))
            ex_full.append(clean(lambda: extract_only(urls, [None] * len(urls))))
            ex_again.append(clean(lambda: extract_only(urls, ex_full[-1][1])))

        def best(runs: list) -> float:
            return min(r[0] for r in runs)

        def median(runs: list) -> float:
            return statistics.median(r[0] for r in runs)

        floor_calls = floor_runs[0][1]
        full_calls, full_changed = full_runs[0][1], full_runs[0][2]
        again_calls, again_changed = again_runs[0][1], again_runs[0][2]
        print(f"{args.repeat} interleaved rounds; seconds as best / median")
        def cpu(runs: list, at: int) -> float:
            return statistics.median(r[at] for r in runs)

        print(f"(a) bare REST floor (same listing)    {best(floor_runs):6.3f} / {median(floor_runs):6.3f}  "
              f"{floor_calls:4d} calls  CPU of this process {cpu(floor_runs, 2):.3f} s")
        print(f"(b) countersign sync --full           {best(full_runs):6.3f} / {median(full_runs):6.3f}  "
              f"{full_calls:4d} calls  {full_changed} rows written  CPU of this process {cpu(full_runs, 3):.3f} s")
        print(f"(b') countersign sync --full again    {best(repass_runs):6.3f} / {median(repass_runs):6.3f}  "
              f"{repass_runs[0][1]:4d} calls  {repass_runs[0][2]} rows changed  CPU of this process "
              f"{cpu(repass_runs, 3):.3f} s  (the scheduled full pass: a catalog that has every row already)")
        print(f"(c) countersign sync, no change       {best(again_runs):6.3f} / {median(again_runs):6.3f}  "
              f"{again_calls:4d} calls  {again_changed} rows changed")
        print(f"(f) bare no-change calls              {best(bare_again):6.3f} / {median(bare_again):6.3f}  "
              f"{bare_again[0][1]:4d} calls  (model listing + first version page per server, side by side)")
        if pids:  # the CPU budget: what the machine's cores must do for each side
            floor_servers, floor_pg = (list(x) for x in zip(*floor_outside, strict=True))
            full_servers, full_pg = (list(x) for x in zip(*(r[4] for r in full_runs), strict=True))
            a_cpu = statistics.median(floor_servers) + cpu(floor_runs, 2) + statistics.median(floor_pg)
            b_cpu = statistics.median(full_servers) + cpu(full_runs, 3) + statistics.median(full_pg)
            pg = (f"; of PostgreSQL: (a) {statistics.median(floor_pg):.2f} s, (b) {statistics.median(full_pg):.2f} s"
                  if postmaster else "")
            line = (f"    CPU (median) of the servers: (a) {statistics.median(floor_servers):.2f} s, (b) "
                    f"{statistics.median(full_servers):.2f} s{pg}; of the machine (servers, "
                    f"{'PostgreSQL, ' if postmaster else ''}this process): (a) "
                    f"{a_cpu:.2f} s, (b) {b_cpu:.2f} s = {b_cpu / a_cpu:.2f} × (a)")
            if not args.pin:
                cores = len(os.sched_getaffinity(0))
                line += f"; on {cores} cores (b) needs ≥ {b_cpu / cores:.3f} s"
            print(line)
        print(f"(d) connector extract only, full      {best(ex_full):6.3f} / {median(ex_full):6.3f}  "
              "(servers in turn, no catalog)")
        print(f"(e) connector extract only, no change {best(ex_again):6.3f} / {median(ex_again):6.3f}")
        for label, pick in (("best", best), ("median", median)):
            print(f"{label:6s}: full / floor = {pick(full_runs) / pick(floor_runs):5.2f}× (goal ≤ 1.2×)   "
                  f"full / no-change = {pick(full_runs) / pick(again_runs):5.1f}× (goal ≥ 10×)   "
                  f"extract full / no-change = {pick(ex_full) / pick(ex_again):5.1f}×   "
                  f"full / bare no-change = {pick(full_runs) / pick(bare_again):5.1f}×   "
                  f"full again / floor = {pick(repass_runs) / pick(floor_runs):5.2f}×")
    finally:
        for s in servers:
            s.stop()
        if postgres is not None:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
