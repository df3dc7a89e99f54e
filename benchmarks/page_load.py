"""Every page's load time in a real browser, first visit after a (re)start and warm, before and after the warm start.

Run: ``.venv/bin/python benchmarks/page_load.py`` (``--quick``: one server start per launcher instead of three).
Needs Debian's Chromium at /usr/bin/chromium.

For each launcher — **before**: ``streamlit run app.py`` (what ``countersign serve`` ran until issue 35), **after**:
``python -m portal.launch run app.py`` (what it runs now: Streamlit's own CLI, with the pages' imports and the catalog
warmed in a background thread while the server binds its port) — a fresh server is started on the demo workspace,
then every page of the page table is opened once in its own browser profile (the *first visit*: the first opens pay
for imports and caches) and once more (*warm*). Two figures per page, as a person sees them: seconds from navigation
to the page's heading, and to the run settled (no script running, nothing stale on screen). Medians over the
server starts are printed side by side with the after/before ratio, with the server's CPU seconds for the whole
round beside the wall seconds (these machines are shared; the load average is printed first).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from benchmarks.ui import demo_workspace  # noqa: E402
from portal.pages import PAGES  # noqa: E402
from tests.browser import harness as h  # noqa: E402

LAUNCHERS = {
    "before": (str(h.VENV_BIN / "streamlit"),),
    "after": (sys.executable, "-m", "portal.launch"),
}
# the Model, Review and Compare pages open on a version or model: the URL a cross-page button would build
QUERY = {"model": "?model=claims-fraud", "review": "?version=lab-staging:claims-fraud:2",
         "compare": "?version=lab-staging:claims-fraud:2"}
HEADINGS = {"Inventory": "Model inventory", "Requests": "Promotion requests", "Model": "claims-fraud",
            "Compare": "Compare versions", "Audit": "Audit ledger"}


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc), every thread counted."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _open(browser, url: str, title: str) -> tuple[float, float]:
    """Seconds to the heading ``title`` and to the settled run, in a fresh browser profile."""
    ctx = h.new_context(browser, h.RISK_OFFICER)
    try:
        page = ctx.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        h.heading(page, title).first.wait_for(timeout=180_000)
        heading = time.perf_counter() - start
        h.settle(page, 180_000)
        h.assert_no_exception(page)
        return heading, time.perf_counter() - start
    finally:
        ctx.close()


def one_round(browser, ws: Path, secrets: Path, launcher: tuple[str, ...], log: Path) -> dict[str, object]:
    """Start a server with ``launcher``, open every page twice; per page (first, warm) figures and the server's CPU."""
    server = h.start_portal(ws, log=log, secrets=secrets, launcher=launcher, timeout=120)
    try:
        out: dict[str, object] = {"healthy": server.healthy_after}
        for visit in ("first", "warm"):
            for spec in PAGES:
                stem = Path(spec.path).stem
                path = "" if spec.default else stem
                out[f"{visit}:{spec.title}"] = _open(browser, f"{server.url}/{path}{QUERY.get(stem, '')}",
                                                     _heading(spec.title))
        out["server_cpu"] = _cpu(server.process.pid)
        return out
    finally:
        server.stop()


def _heading(title: str) -> str:
    """The heading a page draws (the page table's title, except where the page names itself more fully)."""
    return HEADINGS.get(title, title)


def main(argv: list[str] | None = None) -> int:
    """Run both launchers, print the per-page table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one server start per launcher")
    args = ap.parse_args(argv)
    rounds = 1 if args.quick else 3
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {rounds} server start(s) per launcher")
    with tempfile.TemporaryDirectory() as tmp_name, sync_playwright() as pw:
        tmp = Path(tmp_name)
        ws = demo_workspace(tmp / "demo").root
        secrets = tmp / "secrets.toml"
        secrets.write_text("")
        browser = h.launch_chromium(pw)
        results: dict[str, list[dict[str, object]]] = {name: [] for name in LAUNCHERS}
        for i in range(rounds):
            for name, launcher in LAUNCHERS.items():  # interleaved: both see the same machine load
                results[name].append(one_round(browser, ws, secrets, launcher, tmp / f"{name}-{i}.log"))
        browser.close()
    _print(results)
    return 0


def _median(rounds: list[dict[str, object]], key: str, at: int) -> float:
    return statistics.median(r[key][at] for r in rounds)  # type: ignore[index]


def _print(results: dict[str, list[dict[str, object]]]) -> None:
    before, after = results["before"], results["after"]
    print(f"\n{'page':<18} {'visit':<6} {'heading before':>15} {'after':>7} {'ratio':>6}   "
          f"{'settled before':>15} {'after':>7} {'ratio':>6}")
    for visit in ("first", "warm"):
        for spec in PAGES:
            key = f"{visit}:{spec.title}"
            hb, ha = _median(before, key, 0), _median(after, key, 0)
            sb, sa = _median(before, key, 1), _median(after, key, 1)
            print(f"{spec.title:<18} {visit:<6} {hb:>14.2f}s {ha:>6.2f}s {ha / hb:>6.2f}   "
                  f"{sb:>14.2f}s {sa:>6.2f}s {sa / sb:>6.2f}")
    for name, rounds in results.items():
        cpu = statistics.median(float(r["server_cpu"]) for r in rounds)  # type: ignore[arg-type]
        healthy = statistics.median(float(r["healthy"]) for r in rounds)  # type: ignore[arg-type]
        print(f"{name}: healthy after {healthy:.2f} s; server CPU for the whole round {cpu:.2f} s")
    first_before = _median(before, f"first:{PAGES[0].title}", 0)
    first_after = _median(after, f"first:{PAGES[0].title}", 0)
    warm_after = _median(after, f"warm:{PAGES[0].title}", 0)
    print(f"\nfirst page after start, to its heading: before {first_before:.2f} s, after {first_after:.2f} s "
          f"(warm: {warm_after:.2f} s; after / warm = {first_after / warm_after:.2f})")


if __name__ == "__main__":
    raise SystemExit(main())
