"""CLI start-up: `countersign --help`, `countersign models --json` and `countersign ledger verify` on the demo
workspace, each against a bare `python -c pass` measured in the same run (interleaved, so machine load hits all).

Run: .venv/bin/python benchmarks/cli_startup.py [--runs 15] [--quick] [--workspace DIR]
Prints the median wall time of each command, its ratio to `python -c pass`, and the difference.
Goals (issue 22): `--help` within 0.2 s of `python -c pass`; `models --json` under 0.6 s.
Heavy libraries (pandas, DuckDB, evidently, shap, streamlit, boto3) load only in the commands that use
them: `python -X importtime .venv/bin/countersign --help` shows what is left.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COUNTERSIGN = str(BIN / "countersign")


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 runs")
    parser.add_argument("--workspace", help="an existing demo workspace (default: build one in a temporary folder)")
    args = parser.parse_args()
    if args.quick:
        args.runs = 5
    with tempfile.TemporaryDirectory() as tmp:
        ws = args.workspace or str(Path(tmp) / "demo")
        if not args.workspace:
            subprocess.run([COUNTERSIGN, "demo", "--workspace", ws], check=True, capture_output=True)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "countersign --help": [COUNTERSIGN, "--help"],
            "countersign models --json": [COUNTERSIGN, "models", "--json", "--workspace", ws],
            "countersign ledger verify": [COUNTERSIGN, "ledger", "verify", "--workspace", ws],
        }
        for cmd in commands.values():  # warm the page cache and __pycache__
            wall(cmd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(wall(cmd))
    base = statistics.median(times["python -c pass"])
    print(f"median of {args.runs} runs each, interleaved")
    for name, samples in times.items():
        med = statistics.median(samples)
        print(f"{name:<28} {med:6.3f} s   {med / base:5.1f}x python -c pass   +{med - base:5.3f} s   "
              f"(min {min(samples):.3f} s)")
    help_extra = statistics.median(times["countersign --help"]) - base
    models = statistics.median(times["countersign models --json"])
    print(f"goal --help within 0.2 s of python -c pass: {'met' if help_extra <= 0.2 else 'NOT met'} "
          f"(+{help_extra:.3f} s); goal models --json under 0.6 s: {'met' if models < 0.6 else 'NOT met'} "
          f"({models:.3f} s)")


if __name__ == "__main__":
    main()
