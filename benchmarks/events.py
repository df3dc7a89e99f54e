"""Benchmark: how soon a registry change is in the history with ``countersign listen``, against polling.

A real ``mlflow server`` (3.17.2, SQL backend; the cached virtualenv of tests/servers/mlflow_server.py) delivers
webhooks to a listener in this process, which records each change and then syncs the account. The benchmark moves
an alias back and forth ``--moves`` times, ``--gap`` seconds apart, and times each move from the moment the client
sends it to the moment both history rows it causes (the version gaining the alias, the one losing it) are committed
and readable: the end-to-end latency of an event. The listener's own figure (the event's own time to its row's
commit) is printed beside it.

Polling, the alternative: a change is recorded at the next poll, so its delay is spread evenly over the poll
interval (p50 = interval / 2, p95 = 0.95 × interval, plus one incremental sync, measured here), and a change undone
within the interval is never recorded at all (the moves here are undone after ``--gap`` seconds). The compose
example polls every 900 s. Goal: event p95 ≤ 2 s.

    .venv/bin/python benchmarks/events.py [--quick] [--moves N] [--gap S] [--poll-interval S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ACCOUNT = "mlflow-prod"
SECRET = "benchmark-webhook-secret"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def workspace(root: Path, url: str, settle: float):
    from governance.catalog import Catalog
    from governance.catalog.prepare import prepare_catalog
    from governance.config import Workspace, load_settings
    from governance.context import Context
    from governance.identity import identity_for
    from tests.connectors.mlflow_driver import write_workspace

    write_workspace(root, {ACCOUNT: {"environment": "staging", "tracking_uri": url,
                                     "alias_environments": {"champion": "prod"}}})
    config = root / "countersign.toml"
    config.write_text(config.read_text() + f"\n[listen]\nsettle_seconds = {settle}\n")
    ws = Workspace(root)
    settings = load_settings(ws)
    catalog = prepare_catalog(Catalog(ws.catalog_path), settings)
    return Context(ws, settings, catalog, identity_for(settings, "ml.engineer@example.com", source="cli"))


def sync_seconds(ctx, rounds: int) -> list[float]:
    """Wall seconds of incremental syncs with nothing changed: the least any poll costs."""
    from governance.sync import sync

    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        assert sync(ctx, accounts=[ACCOUNT]).ok
        out.append(time.perf_counter() - start)
    return out


def event_rows(ctx) -> int:
    return ctx.catalog.query_dicts("SELECT count(*) AS n FROM version_history WHERE change_source = 'event'")[0]["n"]


def run_moves(ctx, driver, model: str, moves: int, gap: float) -> list[float]:
    """Seconds from sending each alias move to its two history rows being committed."""
    out = []
    for i in range(moves):
        target = 2 if i % 2 == 0 else 1
        want = event_rows(ctx) + 2
        start = time.perf_counter()
        driver.set_alias(model, "champion", target)
        while event_rows(ctx) < want:
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"move {i} not recorded within 30 s")
            time.sleep(0.01)
        out.append(time.perf_counter() - start)
        time.sleep(max(0.0, gap - out[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 moves")
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between two moves")
    parser.add_argument("--settle", type=float, default=0.3, help="[listen] settle_seconds")
    parser.add_argument("--poll-interval", type=float, default=900.0, help="the poll interval compared with")
    args = parser.parse_args()
    if args.quick:
        args.moves = 10
    from governance.listen import build_listener
    from tests.connectors.mlflow_driver import MlflowDriver
    from tests.servers.mlflow_server import MlflowServer

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work slows every figure)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = MlflowServer(tmp / "mlflow").start().wait()
        driver = MlflowDriver(server)
        try:
            model = f"bench-{uuid.uuid4().hex[:6]}"
            driver.create_model(model)
            driver.add_version(model)
            driver.add_version(model)
            driver.set_alias(model, "champion", 1)
            ctx = workspace(tmp / "ws", server.url, args.settle)
            polls = sync_seconds(ctx, 6)[1:]  # the first is the full first sync
            listener = build_listener(ctx, {"COUNTERSIGN_WEBHOOK_SECRET": SECRET}).start(port=0)
            driver.post("webhooks", {"name": "bench", "url": f"{listener.url}/webhooks/mlflow/{ACCOUNT}",
                                     "secret": SECRET,
                                     "events": [{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}]})
            time.sleep(1.5)  # MLflow's cache of the webhook list (1 s on the test server)
            cpu = time.process_time()
            latencies = run_moves(ctx, driver, model, args.moves, args.gap)
            cpu = time.process_time() - cpu
            internal = listener.latencies()
            listener.stop()
            report(args, latencies, internal, polls, cpu)
        finally:
            driver.close()
            server.stop()


def report(args, latencies: list[float], internal: list[float], polls: list[float], cpu: float) -> None:
    sync = statistics.median(polls)
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    print(f"{len(latencies)} alias moves, {args.gap:g} s apart (each undone by the next), settle {args.settle:g} s")
    print(f"event -> history row (client call to both rows committed): p50 {p50:.3f} s  p95 {p95:.3f} s  "
          f"max {max(latencies):.3f} s   [goal p95 <= 2 s: {'met' if p95 <= 2 else 'NOT met'}]")
    print(f"  the listener's own figure (event time -> commit): p50 {percentile(internal, 0.5):.3f} s  "
          f"p95 {percentile(internal, 0.95):.3f} s")
    print(f"  CPU of this process (listener, syncs after events, the timing loop): {cpu:.2f} s, "
          f"{cpu / max(1, len(latencies)):.3f} s per move; wall {sum(latencies):.2f} s of recording")
    print(f"one incremental sync with nothing changed (the least a poll costs): median {sync:.3f} s")
    for interval in sorted({args.poll_interval, 60.0}, reverse=True):
        print(f"polling every {interval:g} s: p50 {interval / 2 + sync:.1f} s  p95 {0.95 * interval + sync:.1f} s "
              f"({(0.95 * interval + sync) / p95:.0f}x the event p95); moves undone within {interval:g} s: "
              f"{len(latencies)} of {len(latencies)} never recorded")


if __name__ == "__main__":
    main()
