"""Benchmark: artifact digests — what they add to a SageMaker sync, and sha256 throughput against ``sha256sum``.

(a) The SageMaker scenario of benchmarks/sync.py (3 accounts × 20 groups × 10 versions on a moto server in its own
    process; ``--quick``: 3 × 5 × 4), each version's artifact uploaded (``--artifact-kib`` KiB), synced with
    ``connectors.digests.ENABLED`` off and on:

    (a1) ``sync --full`` into a fresh workspace: on, every artifact is read once (HEAD + GET, streamed);
    (a2) ``sync --full`` again on the same workspace (the scheduled full pass): on, one HEAD per version and no
         read, the digests come from the index by identity;
    (a3) a re-sync with no change: nothing is described, so nothing is hashed. Goal: on ≤ 1.1 × off.

(b) Hashing a ``--size-mib`` file (default 1024) with ``connectors.digests.local_digest`` (the code every local read
    goes through) against coreutils ``sha256sum`` on the same file, each in a child process whose peak RSS is read
    from ``wait4``; then the same for a file a quarter the size: constant memory means the same peak for both.
    Goal: throughput ≥ 0.9 × sha256sum. And one S3 object of ``--s3-mib`` streamed from moto through the same
    reader the sync uses (``connectors.digests.s3_digest``), its peak RSS beside the object's size.

Wall and CPU seconds (this process's, or the child's) are printed for every figure; each (a) figure is the best
of ``--repeat`` rounds that interleave off and on (the no-change re-sync: of five times as many, with the median).

    .venv/bin/python benchmarks/digests.py [--quick] [--repeat N] [--size-mib N] [--artifact-kib N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sync import countersign_sync, start_moto  # noqa: E402

Timed = tuple[float, float]  # wall seconds, CPU seconds of this process


def timed(run: Callable[[], object]) -> Timed:
    """Wall and CPU seconds of ``run()`` in this process."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def best(runs: list[Timed]) -> Timed:
    return min(runs, key=lambda r: r[0])


def sync_figures(groups: int, versions: int, artifact_kib: int, repeat: int) -> dict[str, dict[str, Timed]]:
    """(a): full, full again and no-change syncs, digests off and on, each the best of ``repeat`` runs."""
    from connectors import digests
    from tests.connectors import sagemaker_seed as seed

    t = time.perf_counter()
    seed.seed_benchmark(groups=groups, versions=versions, artifact_size=artifact_kib * 1024)
    total = len(seed.ACCOUNTS) * groups * versions
    print(f"seeded {len(seed.ACCOUNTS)} accounts × {groups} groups × {versions} versions = {total} versions, "
          f"each artifact {artifact_kib} KiB, in {time.perf_counter() - t:.1f} s")
    tmp = Path(tempfile.mkdtemp(prefix="countersign-digests-"))
    made = [0]

    def workspace() -> Path:
        made[0] += 1
        root = tmp / f"ws{made[0]}"
        root.mkdir()
        (root / "countersign.toml").write_text(seed.workspace_toml())
        return root

    countersign_sync(workspace(), full=True)  # warm-up: botocore models, sessions, clients
    runs: dict[str, dict[str, list[Timed]]] = {m: {"full": [], "again": [], "quiet": []} for m in ("off", "on")}
    kept: dict[str, Path] = {}
    # rounds interleave off and on, so load from other work on the machine falls on both alike
    for _ in range(repeat):
        for mode in ("off", "on"):
            digests.ENABLED = mode == "on"
            try:
                root = kept[mode] = workspace()
                runs[mode]["full"].append(timed(lambda r=root: countersign_sync(r, full=True)))
                runs[mode]["again"].append(timed(lambda r=root: countersign_sync(r, full=True)))
            finally:
                digests.ENABLED = True
    for _ in range(5 * repeat):  # the no-change re-sync is short: more rounds
        for mode in ("off", "on"):
            digests.ENABLED = mode == "on"
            try:
                runs[mode]["quiet"].append(timed(lambda r=kept[mode]: countersign_sync(r, full=False)))
            finally:
                digests.ENABLED = True
    out = {mode: {key: best(values) for key, values in figures.items()} for mode, figures in runs.items()}
    for mode in ("off", "on"):  # the median of the no-change rounds beside the best
        out[mode]["quiet median"] = (statistics.median(w for w, _ in runs[mode]["quiet"]),
                                     statistics.median(c for _, c in runs[mode]["quiet"]))
    return out


# the children measure themselves: the hashing alone (not the interpreter's start), and the peak RSS of their own
# memory (VmHWM; a child's ru_maxrss counts the parent's pages it was forked from)
HASH_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from connectors import digests
index = digests.DigestIndex(Path({cache!r}), "bench")
target = sys.argv[1]
wall, cpu = time.perf_counter(), time.process_time()
if target.startswith("s3://"):
    import boto3
    got = digests.s3_digest(index, boto3.client("s3"), target, fresh=True)
else:
    path = Path(target)
    got = digests.local_digest(index, path.as_uri(), path, path.parent, fresh=True)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(got.sha256 or got.problem, wall, cpu, hwm)
"""


def ours(target: str, cache: Path) -> tuple[float, float, int, str]:
    """Wall and CPU seconds of the hashing, the peak RSS (KiB) and the digest, from a child process."""
    out = subprocess.run([sys.executable, "-c", HASH_CHILD.format(root=str(ROOT), cache=str(cache)), target],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[1]), float(out[2]), int(out[3]), out[0]


def sha256sum(path: Path) -> tuple[float, float, int, str]:
    """Wall and CPU seconds, peak RSS (KiB, from GNU time; 0 without it) and digest of ``sha256sum path``."""
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        done = subprocess.run([str(gnu_time), "-f", "%e %U %S %M", "sha256sum", str(path)], capture_output=True,
                              text=True, check=True)
        wall, user, system, rss = done.stderr.split()[-4:]
        return float(wall), float(user) + float(system), int(rss), done.stdout.split()[0]
    start = time.perf_counter()
    done = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, 0.0, 0, done.stdout.split()[0]


def write_file(path: Path, mib: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for i in range(mib):
            fh.write(block[i % 97:] + block[:i % 97])  # every MiB different


def hash_figures(size_mib: int, tmp: Path) -> None:
    """(b): local_digest against sha256sum, and the peak RSS of a file a quarter the size."""
    rows = []
    for mib in (size_mib, max(size_mib // 4, 1)):
        path = tmp / f"artifact-{mib}.bin"
        write_file(path, mib)
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # page cache warm for both sides
        mine = min((ours(str(path), tmp / "cache") for _ in range(2)), key=lambda r: r[0])
        floor = min((sha256sum(path) for _ in range(2)), key=lambda r: r[0])
        if mine[3] != floor[3]:
            raise SystemExit(f"digests differ: {mine[3]} vs sha256sum {floor[3]}")
        rows.append((mib, mine, floor))
        path.unlink()
    print("(b) sha256 of a local file: connectors.digests.local_digest (in a child process) vs coreutils sha256sum")
    for mib, mine, floor in rows:
        print(f"    {mib:5d} MiB  countersign {mine[0]:6.2f} s wall {mine[1]:6.2f} s CPU {mib / mine[0]:6.0f} MiB/s "
              f"peak RSS {mine[2] / 1024:5.1f} MiB | sha256sum {floor[0]:6.2f} s wall {floor[1]:6.2f} s CPU "
              f"{mib / floor[0]:6.0f} MiB/s peak RSS {floor[2] / 1024:4.1f} MiB | {floor[0] / mine[0]:4.2f}× "
              "sha256sum's throughput (goal ≥ 0.9×)")
    (big, mine_big, _), (small, mine_small, _) = rows
    print(f"    peak RSS {mine_big[2] / 1024:.1f} MiB hashing {big} MiB, {mine_small[2] / 1024:.1f} MiB hashing "
          f"{small} MiB: memory does not grow with the artifact")


def s3_figures(s3_mib: int, tmp: Path) -> None:
    """(b'): one S3 object streamed from moto through digests.s3_digest, with the child's peak RSS."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="bench-digests", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    path = tmp / "object.bin"
    write_file(path, s3_mib)
    s3.upload_file(str(path), "bench-digests", "model.tar.gz")
    floor = sha256sum(path)
    path.unlink()
    mine = ours("s3://bench-digests/model.tar.gz", tmp / "cache")
    if mine[3] != floor[3]:
        raise SystemExit(f"S3 digest differs: {mine[3]} vs sha256sum {floor[3]}")
    print(f"(b') sha256 of a {s3_mib} MiB S3 object streamed from moto (its own process): {mine[0]:.2f} s wall "
          f"{mine[1]:.2f} s CPU, peak RSS {mine[2] / 1024:.1f} MiB: the object is never held whole")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 accounts × 5 groups × 4 versions, 128 MiB file")
    parser.add_argument("--repeat", type=int, default=3, help="runs per sync figure; the best is reported")
    parser.add_argument("--size-mib", type=int, default=None, help="the file hashed in (b) (default 1024; quick 128)")
    parser.add_argument("--s3-mib", type=int, default=None, help="the S3 object of (b') (default 256; quick 32)")
    parser.add_argument("--artifact-kib", type=int, default=None, help="each version's artifact (default 64; quick 16)")
    args = parser.parse_args(argv)
    groups, versions = (5, 4) if args.quick else (20, 10)
    size_mib = args.size_mib or (128 if args.quick else 1024)
    s3_mib = args.s3_mib or (32 if args.quick else 256)
    artifact_kib = args.artifact_kib or (16 if args.quick else 64)
    repeat = args.repeat

    stop = start_moto("process")
    tmp = Path(tempfile.mkdtemp(prefix="countersign-digests-hash-"))
    try:
        figures = sync_figures(groups, versions, artifact_kib, repeat)
        off, on = figures["off"], figures["on"]
        print("(a) SageMaker sync, digests off vs on (wall s / CPU s of this process)")
        for key, what in (("full", "(a1) sync --full, fresh workspace"), ("again", "(a2) sync --full again"),
                          ("quiet", "(a3) sync, no change")):
            print(f"    {what:36s} off {off[key][0]:7.3f} / {off[key][1]:6.3f}   on {on[key][0]:7.3f} / "
                  f"{on[key][1]:6.3f}   on/off {on[key][0] / off[key][0]:5.2f}× wall {on[key][1] / off[key][1]:5.2f}× CPU")
        ratio = on["quiet"][0] / off["quiet"][0]
        median = on["quiet median"][0] / off["quiet median"][0]
        print(f"    no-change resync with digests = {ratio:.2f}× without, best to best; {median:.2f}× median to median "
              f"(goal ≤ 1.1×: digests are read once per version)")
        s3_figures(s3_mib, tmp)
    finally:
        stop()
    hash_figures(size_mib, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
