"""Benchmark: ``countersign backfill`` of a year of CloudTrail log files for three SageMaker accounts, against
reading the same files with ``zcat | jq`` (the physical floor: decompress and parse every record, keep SageMaker's).

Writes, per account, a year of log files in AWS's layout and format (``tests/connectors/cloudtrail_files.py``):
four files a day, each with other services' calls (an organisation trail logs everything) and, over the year,
10,000 SageMaker calls for the three accounts together (package created / approved / rejected, endpoint chains).
The accounts live on a moto server (their first sync, which the backfill builds on); the files are read from a
local copy (``--cloudtrail DIR``), as ``zcat | jq`` reads them, so both sides read the same bytes from the same
disk. Then, in ``--repeat`` interleaved rounds:

  (a) floor: ``find … -name '*.json.gz' -print0 | xargs -0 zcat | jq -c '.Records[] | select(SageMaker call)'``;
  (b) ``backfill`` of the three accounts into a fresh copy of the synced catalog: read and hash every file, parse,
      reconstruct each version's and endpoint's states, write rows, gaps and one ledger entry per account;
  (r) the reading alone (``read_history``: list, read, hash, parse), to show where (b)'s time goes;
  (i) ``backfill`` again over the same catalog: the idempotent re-run (reads everything, writes nothing).

Wall and CPU seconds (this process; the shell pipeline's children for the floor). Goal: (b) ≤ 1.5 × (a).

    .venv/bin/python benchmarks/backfill.py [--quick] [--repeat N] [--events N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGION = "eu-west-1"
ACCOUNTS = {"ml-dev": ("111111111111", "dev"), "ml-staging": ("222222222222", "staging"),
            "ml-prod": ("333333333333", "prod")}
YEAR = dt.datetime(2025, 1, 1)
JQ = ('.Records[] | select(.eventSource == "sagemaker.amazonaws.com" and (.errorCode | not)) '
      '| [.eventTime, .eventName, .userIdentity.arn, .requestParameters, .responseElements]')


def sagemaker_calls(account_id: str, n: int, rng: random.Random) -> list[dict]:
    """``n`` SageMaker calls of one account spread over the year, oldest first."""
    from tests.connectors import cloudtrail_files as ct

    out: list[dict] = []
    versions: dict[str, int] = {}
    times = sorted(YEAR + dt.timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(n))
    for i, at in enumerate(times):
        if len(out) >= n:
            break
        group = f"model-{rng.randrange(30):02d}"
        arn = lambda v, g=group: f"arn:aws:sagemaker:{REGION}:{account_id}:model-package/{g}/{v}"  # noqa: E731
        roll = rng.random()
        if roll < 0.35 or not versions.get(group):
            versions[group] = versions.get(group, 0) + 1
            out.append(ct.record(account_id, REGION, at, "CreateModelPackage", "pipeline",
                                 {"modelPackageGroupName": group, "modelApprovalStatus": "PendingManualApproval"},
                                 {"modelPackageArn": arn(versions[group])}))
        elif roll < 0.85:
            out.append(ct.record(account_id, REGION, at, "UpdateModelPackage", rng.choice(["alice", "bob"]),
                                 {"modelPackageArn": arn(rng.randint(1, versions[group])),
                                  "modelApprovalStatus": rng.choice(["Approved", "Rejected"]),
                                  "approvalDescription": f"review {i}"}))
        else:
            name = f"{group}-m{i}"
            out += [ct.record(account_id, REGION, at, "CreateModel", "deployer",
                              {"modelName": name, "primaryContainer": {"modelPackageName": arn(versions[group])}}),
                    ct.record(account_id, REGION, at, "CreateEndpointConfig", "deployer",
                              {"endpointConfigName": f"cfg-{i}", "productionVariants": [
                                  {"variantName": "AllTraffic", "modelName": name, "initialVariantWeight": 1.0}]}),
                    ct.record(account_id, REGION, at, "UpdateEndpoint" if rng.random() < 0.8 else "CreateEndpoint",
                              "deployer", {"endpointName": f"{group}-ep", "endpointConfigName": f"cfg-{i}"})]
    return out[:n]


def write_trail(root: Path, events: int, files_per_day: int, noise: int, seed: int = 7) -> tuple[int, int]:
    """A year of log files per account under ``root`` (the folder holding AWSLogs/); (files, SageMaker records)."""
    from tests.connectors import cloudtrail_files as ct

    rng = random.Random(seed)
    files = records = 0
    per_account = -(-events // len(ACCOUNTS))  # ceil: the accounts together hold at least ``events`` calls
    for account_id, _ in ACCOUNTS.values():
        calls = sagemaker_calls(account_id, per_account, rng)
        records += len(calls)
        slot = dt.timedelta(days=1) / files_per_day
        i = 0
        for n in range(365 * files_per_day):
            start = YEAR + n * slot
            batch = []
            while i < len(calls) and calls[i]["eventTime"] < (start + slot).strftime("%Y-%m-%dT%H:%M:%SZ"):
                batch.append(calls[i])
                i += 1
            batch += [ct.record(account_id, REGION, start, "GetObject", "etl", {"bucketName": "data", "key": f"k{j}"},
                                source="s3.amazonaws.com") for j in range(noise)]
            rng.shuffle(batch)
            path = root / ct.key_for("", account_id, REGION, start + slot)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(ct.body(batch))
            files += 1
    return files, records


def floor(root: Path) -> tuple[float, float, int]:
    """``zcat | jq`` over every file: wall, CPU of the pipeline's processes, SageMaker records printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(["bash", "-c", f"find {root} -name '*.json.gz' -print0 | xargs -0 zcat | jq -c '{JQ}' | wc -l"],
                         check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), int(out.strip())


def synced_workspace(root: Path):
    """A workspace of the three accounts on the moto server, each synced once (a few packages each)."""
    from governance.catalog import Catalog
    from governance.config import Workspace, load_settings
    from governance.context import Context
    from governance.identity import identity_for
    from governance.sync import sync
    from tests.connectors import sagemaker_seed as seed
    from tests.connectors.test_sagemaker_changes import small

    for name in ACCOUNTS:
        small(name, {"model-00": 3}, docs=False)
    ws = Workspace(root)
    ws.ensure_dirs()
    ws.config_path.write_text(seed.workspace_toml())
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    settings = load_settings(ws)
    report = sync(Context(ws, settings, catalog, identity_for(settings, "ml.engineer@example.com", source="cli")))
    assert report.ok, report
    return ws


def open_ctx(root: Path):
    from governance.catalog import Catalog
    from governance.config import Workspace, load_settings
    from governance.context import Context
    from governance.identity import identity_for

    ws = Workspace(root)
    settings = load_settings(ws)
    return Context(ws, settings, Catalog(ws.catalog_path), identity_for(settings, "ml.engineer@example.com",
                                                                      source="cli"))


def run_backfill(root: Path, trail: Path) -> tuple[float, float, int]:
    """(b) or (i): the three accounts' backfills; wall, CPU, rows written."""
    from governance.backfill import backfill

    ctx = open_ctx(root)
    start, cpu = time.perf_counter(), time.process_time()
    rows = 0
    with ctx.catalog.keep_open():
        for name in ACCOUNTS:
            result = backfill(ctx, name, since=YEAR, records=str(trail))
            rows += sum(v for k, v in result.counts.items() if k.endswith(".added"))
    return time.perf_counter() - start, time.process_time() - cpu, rows


def run_read(root: Path, trail: Path) -> tuple[float, float, int]:
    """(r): ``read_history`` of the three accounts only; wall, CPU, changes."""
    from governance.sources import connector_of

    ctx = open_ctx(root)
    until = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    start, cpu = time.perf_counter(), time.process_time()
    changes = sum(len(connector_of(ctx.workspace, ctx.settings.account(n)).read_history(
        YEAR, until, records=str(trail)).changes) for n in ACCOUNTS)
    return time.perf_counter() - start, time.process_time() - cpu, changes


def moto_environment(tmp: Path):
    """A moto server on loopback and boto3 pointed at it (fake credentials), as the tests do."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto's tracebacks for ListActions, which it lacks
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    empty = tmp / "aws-none"
    empty.write_text("")
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION,
                      AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_CONFIG_FILE=str(empty),
                      AWS_SHARED_CREDENTIALS_FILE=str(empty), AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1")
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2,000 events, two files a day, one round")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--noise", type=int, default=20, help="other services' records per file")
    args = parser.parse_args()
    if args.quick:
        args.events, args.files_per_day, args.repeat = 2_000, 2, 1
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work slows every figure)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = moto_environment(tmp)
        try:
            trail = tmp / "trail"
            t = time.perf_counter()
            files, records = write_trail(trail, args.events, args.files_per_day, args.noise)
            size = sum(p.stat().st_size for p in trail.rglob("*.json.gz"))
            print(f"trail: {files} files ({size / 1e6:.1f} MB gzip), {records} SageMaker calls among "
                  f"{files * args.noise} other records, 3 accounts, 365 days (written in {time.perf_counter() - t:.1f} s)")
            base = synced_workspace(tmp / "base")
            results: dict[str, list[tuple[float, float]]] = {"floor": [], "backfill": [], "read": [], "again": []}
            for n in range(args.repeat):
                wall, cpu, printed = floor(trail)
                results["floor"].append((wall, cpu))
                round_ws = tmp / f"round-{n}"
                shutil.copytree(base.root, round_ws)
                wall, cpu, rows = run_backfill(round_ws, trail)
                results["backfill"].append((wall, cpu))
                results["read"].append(run_read(round_ws, trail)[:2])
                results["again"].append(run_backfill(round_ws, trail)[:2])
            report(results, printed, rows)
        finally:
            server.stop()


def report(results: dict[str, list[tuple[float, float]]], printed: int, rows: int) -> None:
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in results.items()}
    labels = {"floor": "(a) zcat | jq (floor)", "backfill": "(b) countersign backfill, 3 accounts",
              "read": "(r) read_history only", "again": "(i) backfill again (idempotent)"}
    print(f"jq printed {printed} SageMaker records; the backfill wrote {rows} rows (states, deployments, gaps)")
    for key, label in labels.items():
        wall, cpu = med[key]
        ratio = f"  {wall / med['floor'][0]:.2f}x floor" if key != "floor" else ""
        print(f"{label:<38} wall {wall:6.2f} s  cpu {cpu:6.2f} s{ratio}")
    print(f"goal (b) <= 1.5x (a): {'met' if med['backfill'][0] <= 1.5 * med['floor'][0] else 'NOT met'}")


if __name__ == "__main__":
    main()
