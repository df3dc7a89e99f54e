"""Use cases (issue 33): a Review page run under AppTest on the demo, and `countersign models --json`, each beside a
floor measured in the same run and, with --before, beside the code before the use cases.

Run: .venv/bin/python benchmarks/usecases.py [--runs 15] [--workspace DIR] [--before SRC] [--models-only]
  --before SRC: a source tree of the earlier code, e.g. `git archive main | tar -x -C /tmp/before` (its pages/ and
  governance.cli are found by name); both trees run on this virtualenv and on the same demo workspace.
Prints p50/p95 wall and CPU seconds per Review page run (the version with drift, bias and explain stored), the
connectors built and files fetched during those runs, and the wall and CPU of `models --json` (CPU: the child
process's user + system time). Floors: an AppTest run of a one-line page (what AppTest itself costs) and
`python -c "import duckdb"` (the interpreter and the catalog's engine, which any listing needs).
Goals: Review page run p95 <= 0.5 s; `models --json` <= 0.3 s CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORED = "lab-staging:claims-fraud:3"  # the demo version with drift, bias and explain evidence stored
OFFICER = "risk.officer@demo.countersign.dev"


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the Review page, in a child process per source tree ---------------------------------------------------------


def child_review(src: Path, workspace: Path, runs: int) -> None:
    """Runs inside the child: time ``runs`` reruns of the Review page of ``src`` (and a one-line page), as JSON."""
    sys.path.insert(0, str(src))
    os.chdir(src)
    os.environ["COUNTERSIGN_WORKSPACE"] = str(workspace)
    from streamlit.testing.v1 import AppTest

    from governance import sources
    from portal.context import SELECTED_VERSION

    built: list[str] = []
    real = sources.build_connector

    def counting(kind, settings, account, **kw):  # a spy: the real connector, counted
        built.append(account.name)
        return real(kind, settings, account, **kw)

    sources.build_connector = counting
    page = "app_pages/review.py" if (src / "app_pages").is_dir() else "pages/review.py"
    at = AppTest.from_file(str(src / "app.py"), default_timeout=120)
    at.session_state["cs.persona"] = OFFICER
    at.run()
    at.session_state[SELECTED_VERSION] = STORED
    t0, c0 = time.perf_counter(), time.process_time()
    at.switch_page(page).run()
    first = (time.perf_counter() - t0, time.process_time() - c0)
    assert not at.exception, at.exception
    built_first = len(built)
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        at.run()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    assert not at.exception, at.exception
    bare = Path(tempfile.mkdtemp()) / "bare.py"
    bare.write_text("import streamlit as st\nst.write('x')\n")
    floor_at = AppTest.from_file(str(bare))
    floor_at.run()
    floor = []
    for _ in range(runs):
        t0 = time.perf_counter()
        floor_at.run()
        floor.append(time.perf_counter() - t0)
    print(json.dumps({"first": first, "wall": walls, "cpu": cpus, "floor": floor, "built_first": built_first,
                      "built_reruns": len(built) - built_first}))


def review(src: Path, workspace: Path, runs: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child-review", str(src), str(workspace), str(runs)],
                          capture_output=True, text=True, cwd=src, env={**os.environ, "PYTHONPATH": str(src)})
    if proc.returncode != 0:
        raise SystemExit(f"the Review run of {src} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- countersign models --json --------------------------------------------------------------------------------------


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system of the child) seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd, env=_env(cwd))
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _env(cwd: Path) -> dict[str, str]:
    """The child's environment: ``cwd`` first on the path, and bytecode caching on (an installed wheel has its .pyc
    files; with PYTHONDONTWRITEBYTECODE set every run would compile the project's modules again, ~0.15 s of CPU)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPATH": str(cwd)}


def models_commands(src: Path, workspace: Path) -> list[str]:
    module = "countersign_cli" if (src / "countersign_cli").is_dir() else "governance.cli"
    return [sys.executable, "-m", module, "models", "--json", "--workspace", str(workspace)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--workspace", help="an existing demo workspace (default: build one in a temporary folder)")
    parser.add_argument("--before", help="a source tree of the code before, measured in the same run")
    parser.add_argument("--models-only", action="store_true", help="measure `models --json` only")
    parser.add_argument("--child-review", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_review:
        src, ws, runs = args.child_review
        child_review(Path(src), Path(ws), int(runs))
        return
    trees = {"after": ROOT} | ({"before": Path(args.before).resolve()} if args.before else {})
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(args.workspace or Path(tmp) / "demo")
        if not args.workspace:
            subprocess.run([sys.executable, "-m", "countersign_cli", "demo", "--workspace", str(ws)], check=True,
                           capture_output=True, cwd=ROOT)
        if not args.models_only:
            print(f"Review page run (AppTest, {STORED}, {args.runs} reruns after the first view)")
            results = {name: review(src, ws, args.runs) for name, src in trees.items()}
            floor = statistics.median(results["after"]["floor"])
            for name, r in results.items():
                print(f"  {name:<6} first view {r['first'][0]:.3f} s wall / {r['first'][1]:.3f} s CPU; rerun p50 "
                      f"{p(r['wall'], .5):.3f} s, p95 {p(r['wall'], .95):.3f} s wall ({p(r['wall'], .95) / floor:.0f}x "
                      f"the one-line page's {floor:.3f} s), p50 {p(r['cpu'], .5):.3f} s / p95 {p(r['cpu'], .95):.3f} s "
                      f"CPU; connectors built: {r['built_first']} on the first view, {r['built_reruns']} on reruns")
            if "before" in results:
                b, a = results["before"], results["after"]
                print(f"  before/after: p95 wall {p(b['wall'], .95) / p(a['wall'], .95):.1f}x, p95 CPU "
                      f"{p(b['cpu'], .95) / max(p(a['cpu'], .95), 1e-9):.1f}x, first view "
                      f"{b['first'][0] / a['first'][0]:.1f}x")
            print(f"  goal p95 <= 0.5 s: {'met' if p(results['after']['wall'], .95) <= 0.5 else 'NOT met'}")

        print(f"countersign models --json ({args.runs} runs each, interleaved; median)")
        commands = {f"models --json ({name})": (models_commands(src, ws), src) for name, src in trees.items()}
        commands["floor: python -c 'import duckdb'"] = ([sys.executable, "-c", "import duckdb"], ROOT)
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for cmd, cwd in commands.values():
            timed(cmd, cwd)  # writes the bytecode caches, as installing a wheel does
        load = os.getloadavg()
        for _ in range(args.runs):
            for name, (cmd, cwd) in commands.items():
                samples[name].append(timed(cmd, cwd))
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in samples.items()}
        floor_wall, floor_cpu = med["floor: python -c 'import duckdb'"]
        for name, (w, c) in med.items():
            fastest = min(cpu for _, cpu in samples[name])  # the machine's neighbours add to a median, never to this
            print(f"  {name:<36} {w:.3f} s wall ({w / floor_wall:.1f}x floor)   {c:.3f} s CPU "
                  f"({c / floor_cpu:.1f}x floor; fastest run {fastest:.3f} s)")
        print(f"  load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores)")
        after_cpu = med["models --json (after)"][1]
        if "models --json (before)" in med:
            print(f"  before/after: CPU {med['models --json (before)'][1] / after_cpu:.2f}x, wall "
                  f"{med['models --json (before)'][0] / med['models --json (after)'][0]:.2f}x")
        print(f"  goal <= 0.3 s CPU (median): {'met' if after_cpu <= 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
