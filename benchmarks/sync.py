"""Benchmark: SageMaker sync against the bare boto3 floor, on a moto server with 3 accounts.

Seeds 3 accounts × 20 groups × 10 versions (``--quick``: 3 × 5 × 4), then times in one run:

  (a) the floor: the minimum list + describe calls as a plain boto3 loop (per account: list groups, list each
      group's packages, describe every package, HEAD its artifact: the identity a digest is remembered by, see
      benchmarks/digests.py), writing nothing; like Countersign in a long-running process
      (the portal, a scheduled sync loop) it keeps its sessions and clients between runs;
  (b) ``countersign sync --full`` (governance.sync.sync): the same plus tags, endpoints, experiments, model cards,
      training jobs, documents, and the catalog write;
  (c) a re-sync with no change at the source, and (c') the same with sessions and clients made afresh (the first
      sync of a new process).

moto runs in its own process (``--server thread`` puts it in this one), so its work does not share this process's
interpreter lock, as AWS would not. Each figure is the best of ``--repeat`` runs (fresh catalog for every full run).
Goals: (b) ≤ 1.2 × (a) and
(b) ≥ 10 × (c).

    .venv/bin/python benchmarks/sync.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from governance.context import Context

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def start_moto(mode: str) -> Callable[[], None]:
    """Start moto (its own process by default, like a remote AWS; or a thread of this one); return a stopper."""
    if mode == "thread":
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        stop: Callable[[], None] = server.stop
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            host, port = probe.getsockname()
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    raise SystemExit("moto server did not start") from None
                time.sleep(0.05)

        def stop() -> None:
            proc.terminate()
            proc.wait(10)

    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-1", AWS_EC2_METADATA_DISABLED="true",
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID"):
        os.environ.pop(name, None)
    return stop


_FLOOR_CLIENTS: dict[str, tuple[Any, Any]] = {}
_FLOOR_CALLS = [0]


def _count_floor_call(**_: object) -> None:
    _FLOOR_CALLS[0] += 1


def floor(accounts: dict[str, tuple[str, str]]) -> tuple[float, int]:
    """The bare boto3 loop: list groups, list packages per group, describe each package, and ask S3 for the identity
    of each package's artifact (HEAD: the least a sync that keeps a digest of every artifact can do).

    Like Countersign in a long-running process, it assumes each role once and keeps its clients between runs
    (the first run, a warm-up outside the timings, pays for AssumeRole and client creation).
    """
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.loaders import create_loader

    from tests.connectors.sagemaker_seed import role_arn

    # the floor gets every advantage: one botocore loader (service models parsed once) for all sessions
    loader = create_loader()

    def session(**kw: str) -> boto3.Session:
        core = botocore.session.Session()
        core.register_component("data_loader", loader)
        return boto3.Session(botocore_session=core, region_name="eu-west-1", **kw)

    calls_before = _FLOOR_CALLS[0]
    start = time.perf_counter()
    for account_id, _env in accounts.values():
        if account_id not in _FLOOR_CLIENTS:
            sts = session().client("sts")
            sts.meta.events.register("before-send", _count_floor_call)
            creds = sts.assume_role(RoleArn=role_arn(account_id), RoleSessionName="floor")["Credentials"]
            assumed = session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                              aws_session_token=creds["SessionToken"])
            clients = tuple(assumed.client(name, config=Config(retries={"mode": "standard"}))
                            for name in ("sagemaker", "s3"))
            for client in clients:
                client.meta.events.register("before-send", _count_floor_call)
            _FLOOR_CLIENTS[account_id] = clients
        sm, s3 = _FLOOR_CLIENTS[account_id]
        for page in sm.get_paginator("list_model_package_groups").paginate():
            for group in page["ModelPackageGroupSummaryList"]:
                for ppage in sm.get_paginator("list_model_packages").paginate(
                        ModelPackageGroupName=group["ModelPackageGroupName"]):
                    for summary in ppage["ModelPackageSummaryList"]:
                        desc = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
                        url = desc["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
                        bucket, _, key = url.removeprefix("s3://").partition("/")
                        try:
                            s3.head_object(Bucket=bucket, Key=key)
                        except s3.exceptions.ClientError:
                            pass  # the benchmark registry uploads no artifacts: a 404 is the same one call
    return time.perf_counter() - start, _FLOOR_CALLS[0] - calls_before


def countersign_sync(ws_root: Path, *, full: bool) -> tuple[float, int, int]:
    """One ``sync`` of every account; returns seconds, calls and versions changed."""
    from governance.catalog import Catalog
    from governance.config import Workspace, load_settings
    from governance.identity import Identity
    from governance.sync import sync

    ws = Workspace(ws_root)
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    actor = Identity("benchmark@example.com", frozenset({"admin"}), source="cli")
    start = time.perf_counter()
    report = sync(Context(ws, load_settings(ws), catalog, actor), full=full)
    seconds = time.perf_counter() - start
    bad = [r for r in report.results if r.status != "ok"]
    if bad:
        raise SystemExit(f"sync failed: {[(r.account, r.error, r.issues) for r in bad]}")
    changed = sum((r.counts.added + r.counts.updated + r.counts.deleted) if r.counts else 0 for r in report.results)
    return seconds, sum(r.calls for r in report.results), changed


def extract_only(ws_root: Path, watermarks: dict[str, str | None]) -> tuple[float, int, dict[str, str | None]]:
    """The connector's share alone: extract every account in turn (no catalog, no ledger)."""
    from governance.config import Workspace, load_settings
    from governance.sources import connector_of

    ws = Workspace(ws_root)
    settings = load_settings(ws)
    start = time.perf_counter()
    calls, marks = 0, {}
    for account in settings.accounts:
        connector = connector_of(ws, account)
        since = watermarks.get(account.name)
        snap = connector.extract(since, full=since is None)
        calls += snap.calls
        marks[account.name] = snap.watermark
    return time.perf_counter() - start, calls, marks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 accounts × 5 groups × 4 versions")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is reported (default 3)")
    parser.add_argument("--server", choices=("process", "thread"), default="process",
                        help="run moto in its own process (default, like a remote AWS) or in a thread of this one")
    args = parser.parse_args(argv)
    groups, versions = (5, 4) if args.quick else (20, 10)

    stop = start_moto(args.server)
    try:
        from tests.connectors import sagemaker_seed as seed

        t = time.perf_counter()
        seed.seed_benchmark(groups=groups, versions=versions)
        total = len(seed.ACCOUNTS) * groups * versions
        print(f"seeded {len(seed.ACCOUNTS)} accounts × {groups} groups × {versions} versions = {total} versions "
              f"in {time.perf_counter() - t:.2f} s")

        tmp = Path(tempfile.mkdtemp(prefix="countersign-bench-"))

        def workspace(name: str) -> Path:
            root = tmp / name
            root.mkdir()
            (root / "countersign.toml").write_text(seed.workspace_toml())
            return root

        # warm-up outside the timings: botocore loads its service models once per process for either side
        floor(seed.ACCOUNTS)
        countersign_sync(workspace("warm"), full=True)

        floor_runs = [floor(seed.ACCOUNTS) for _ in range(args.repeat)]
        full_runs = [countersign_sync(workspace(f"full{i}"), full=True) for i in range(args.repeat)]
        shared = workspace("resync")
        countersign_sync(shared, full=True)
        again_runs = [countersign_sync(shared, full=False) for _ in range(args.repeat)]
        from connectors.sagemaker import forget_clients

        cold_runs = []
        for _ in range(args.repeat):
            forget_clients()  # as a fresh process would: new sessions, clients and AssumeRole per account
            cold_runs.append(countersign_sync(shared, full=False))

        extract_full = [extract_only(shared, {}) for _ in range(args.repeat)]
        marks = extract_full[0][2]
        extract_again = [extract_only(shared, marks) for _ in range(args.repeat)]

        floor_s, floor_calls = min(floor_runs)
        full_s, full_calls, full_changed = min(full_runs)
        again_s, again_calls, again_changed = min(again_runs)
        print(f"(a) boto3 floor (list, describe, HEAD){floor_s:7.3f} s  {floor_calls:5d} calls")
        print(f"(b) countersign sync --full           {full_s:7.3f} s  {full_calls:5d} calls  "
              f"{full_changed} rows written")
        print(f"(c) countersign sync, no change       {again_s:7.3f} s  {again_calls:5d} calls  "
              f"{again_changed} rows changed")
        cold_s, cold_calls, _ = min(cold_runs)
        print(f"(c') no change, new sessions/clients  {cold_s:7.3f} s  {cold_calls:5d} calls  "
              "(what the first sync of a new process pays on top: AssumeRole and client set-up)")
        ex_full_s, ex_full_calls, _ = min(extract_full, key=lambda r: r[0])
        ex_again_s, ex_again_calls, _ = min(extract_again, key=lambda r: r[0])
        print(f"(d) connector extract only, full      {ex_full_s:7.3f} s  {ex_full_calls:5d} calls  (accounts in turn)")
        print(f"(e) connector extract only, no change {ex_again_s:7.3f} s  {ex_again_calls:5d} calls")
        print(f"full / floor      = {full_s / floor_s:5.2f}×   (goal ≤ 1.2×)  calls {full_calls / floor_calls:.2f}×")
        print(f"full / no-change  = {full_s / again_s:5.1f}×   (goal ≥ 10×)   calls {full_calls / again_calls:.1f}×   "
              f"with new sessions {full_s / cold_s:.1f}×")
        print(f"extract full / extract no-change = {ex_full_s / ex_again_s:5.1f}×   (the connector alone, accounts in "
              "turn; (c) adds the catalog and ledger writes and runs the accounts side by side)")
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
