"""How fast the portal answers in a real browser: server start to first page, p95 click-to-rerender.

Run: ``.venv/bin/python benchmarks/ui.py`` (or ``--quick``). Needs Debian's Chromium at /usr/bin/chromium.

Measured with Playwright driving Chromium against ``streamlit run app.py``, exactly as tests/browser does:

- **start → first page**: from launching the server process to the inventory drawn in the browser (table included);
- **click → rerender** on the inventory (tick / untick a table row, which reruns the page) and on the review page
  (pick another version in its selectbox): from the click to the end of the script run that it triggered, as the
  browser sees it (stApp's script-run state returns to ``notRunning`` and no stale element is left);

each on the demo workspace and on a generated catalog of 10,000 versions (2,000 with ``--quick``). The competitor
measured in the same run is Streamlit itself: a bare app (a title and one button) gives the framework's own floor
for both figures, and every Countersign figure is printed as a ratio to it. The goal is p95 ≤ 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from connectors.base import DeploymentRecord, ModelRecord, Snapshot, VersionRecord  # noqa: E402
from governance.catalog import Catalog  # noqa: E402
from governance.config import Workspace, load_settings  # noqa: E402
from tests.browser import harness as h  # noqa: E402

GOAL_P95 = 1.0

STALE_GONE = "() => !document.querySelector('[data-stale=\"true\"]')"

BARE_APP = '''
import streamlit as st
st.title("Bare Streamlit")
st.button("Click me", key="bare.click")
st.write("a page with nothing else on it")
'''

SYNTHETIC_CONFIG = """\
[workspace]
name = "Countersign benchmark ({n} versions)"

[environments]
order = ["dev", "staging", "prod"]

[[accounts]]
name = "bench-dev"
environment = "dev"
connector = "folder"
path = "registry/dev"

[[accounts]]
name = "bench-staging"
environment = "staging"
connector = "folder"
path = "registry/staging"

[[accounts]]
name = "bench-prod"
environment = "prod"
connector = "folder"
path = "registry/prod"

[roles]
"risk.officer@demo.countersign.dev" = ["risk_officer"]

[auth]
trusted_headers = true
trusted_proxies = ["127.0.0.1/32", "::1/128"]
"""


def synthetic_workspace(root: Path, n_versions: int) -> Workspace:
    """A workspace whose catalog holds ``n_versions`` synthetic versions (no artifacts), written by apply_snapshot.

    Versions are spread over 200 models and three accounts (half dev, a third staging, the rest prod); every
    prod model's newest version is deployed, one in ten of those without approval, so the inventory has flags.
    """
    ws = Workspace(root)
    ws.ensure_dirs()
    ws.config_path.write_text(SYNTHETIC_CONFIG.format(n=n_versions), encoding="utf-8")
    settings = load_settings(ws)
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    catalog.upsert_accounts(settings.accounts)
    n_models = 200
    per_model = max(1, n_versions // n_models)
    epoch = dt.datetime(2026, 1, 1)
    split = {"dev": per_model // 2, "staging": per_model // 3}
    split["prod"] = per_model - split["dev"] - split["staging"]
    models = tuple(ModelRecord(name=f"model-{m:03d}", owner=f"team-{m % 7}@bench.example",
                               risk_tier=("low", "medium", "high")[m % 3]) for m in range(n_models))
    for env, count in split.items():
        versions, deployments = [], []
        for m in range(n_models):
            name = f"model-{m:03d}"
            for v in range(1, count + 1):
                status = "Approved" if (v < count or m % 10) else "PendingManualApproval"
                versions.append(VersionRecord(
                    model=name, version=v, source_ref=f"{env}/{name}/{v}", approval_status=status,
                    created_at=epoch + dt.timedelta(hours=m * 24 + v), created_by="data.scientist@bench.example",
                    metrics={"auc": 0.7 + (v % 20) / 100}, metadata={"algorithm": "gbm"},
                ))
            if env == "prod" and count:
                deployments.append(DeploymentRecord(endpoint=f"{name}-prod", variant="AllTraffic",
                                                    status="InService", model=name,
                                                    version_ref=f"{env}/{name}/{count}"))
        catalog.apply_snapshot(
            sync_id=f"bench-{env}", account=f"bench-{env}", environment=env,
            snapshot=Snapshot(models=models, versions=tuple(versions), deployments=tuple(deployments)),
            started_at=dt.datetime.now(dt.UTC).replace(tzinfo=None), full=True, actor="benchmark",
        )
    return ws


def demo_workspace(root: Path) -> Workspace:
    """The demo workspace built by the CLI, with trusted-header sign-in on (as in the browser tests)."""
    done = subprocess.run([str(h.VENV_BIN / "countersign"), "demo", "--workspace", str(root)], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise SystemExit(f"countersign demo failed:\n{done.stderr}")
    config = root / "countersign.toml"
    config.write_text(config.read_text() + '\n[auth]\ntrusted_headers = true\n'
                      'trusted_proxies = ["127.0.0.1/32", "::1/128"]\n')
    return Workspace(root)


class RunWatcher:
    """Counts the ``script_finished`` messages the browser receives on Streamlit's WebSocket.

    The DOM's script-state attribute is not enough: a fast run flips it to running and back within one React
    render, so no change is ever visible. The protocol message is exact.
    """

    def __init__(self, page: Page) -> None:
        self.finished = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        if isinstance(payload, bytes):
            try:
                msg = ForwardMsg.FromString(payload)
            except Exception:  # not every frame is a ForwardMsg (e.g. partial or other traffic)
                return
            if msg.WhichOneof("type") == "script_finished":
                self.finished += 1


def timed_click(page: Page, watcher: RunWatcher, action, script_part: list[float] | None = None) -> float:
    """Seconds from ``action()`` (a click) to the end of the rerun it triggered, drawn in the browser.

    When ``script_part`` is given, the seconds until the server's ``script_finished`` arrived are appended to it
    (the rest is the browser drawing what the run sent).
    """
    before = watcher.finished
    start = time.perf_counter()
    action()
    deadline = start + 60
    while watcher.finished <= before:
        if time.perf_counter() > deadline:
            raise TimeoutError("no rerun finished within 60 s of the click")
        page.wait_for_timeout(5)  # lets Playwright dispatch the WebSocket events
    if script_part is not None:
        script_part.append(time.perf_counter() - start)
    page.wait_for_function(STALE_GONE, timeout=60_000, polling="raf")
    return time.perf_counter() - start


def p95(samples: list[float]) -> float:
    """95th percentile (inclusive method, as numpy's default 'linear')."""
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def start_and_first_page(browser, workspace: Path | None, app: Path, secrets: Path, log: Path,
                         ready: str) -> tuple[h.Server, Page, RunWatcher, float, float]:
    """Start a server, open its first page; return (server, page, seconds to healthy, seconds to first page)."""
    t0 = time.perf_counter()
    server = h.start_portal(workspace or ROOT, log=log, secrets=secrets, app=app, cwd=app.parent)
    ctx = h.new_context(browser, h.RISK_OFFICER)
    page = ctx.new_page()
    watcher = RunWatcher(page)
    page.goto(server.url, wait_until="domcontentloaded")
    page.locator(ready).first.wait_for(timeout=120_000)
    h.settle(page, 120_000)
    first = time.perf_counter() - t0
    return server, page, watcher, server.healthy_after, first


def bench_bare(browser, tmp: Path, secrets: Path, clicks: int) -> dict[str, float]:
    """Streamlit's own floor: a bare app, its start-to-first-page and p95 button click-to-rerender."""
    app = tmp / "bare" / "bare_app.py"
    app.parent.mkdir()
    app.write_text(BARE_APP)
    server, page, watcher, healthy, first = start_and_first_page(browser, None, app, secrets, tmp / "bare.log",
                                                        '[data-testid="stButton"]')
    try:
        button = page.get_by_role("button", name="Click me")
        samples = [timed_click(page, watcher, button.click) for _ in range(clicks)]
    finally:
        page.context.close()
        server.stop()
    return {"healthy": healthy, "first": first, "p95": p95(samples), "median": statistics.median(samples)}


def bench_portal(browser, ws: Workspace, secrets: Path, clicks: int, review_versions: tuple[str, str],
                 log: Path) -> dict[str, float]:
    """The portal on one workspace: start to first page, then p95 click-to-rerender on inventory and review."""
    server, page, watcher, healthy, first = start_and_first_page(browser, ws.root, ROOT / "app.py", secrets, log,
                                                        '[data-testid="stDataFrame"] canvas')
    out = {"healthy": healthy, "first": first}
    try:
        # inventory: tick / untick the first row (on_select="rerun")
        grid = h.dataframe(page).locator('canvas[data-testid="data-grid-canvas"]')
        grid.scroll_into_view_if_needed()  # mouse clicks land in the viewport only
        box = grid.bounding_box()
        assert box is not None

        def toggle() -> None:
            page.mouse.click(box["x"] + 15, box["y"] + 36 + 17)

        script: list[float] = []
        samples = [timed_click(page, watcher, toggle, script) for _ in range(clicks)]
        out["inventory_p95"], out["inventory_median"] = p95(samples), statistics.median(samples)
        out["inventory_script_p95"] = p95(script)

        # review: switch between two versions in the page's selectbox
        page.goto(f"{server.url}/review?version={review_versions[0]}", wait_until="domcontentloaded")
        h.heading(page, "Review").wait_for(timeout=60_000)
        h.settle(page, 60_000)
        select = h.widget(page, "stSelectbox", "Version").locator("input").first
        samples, script = [], []
        for i in range(clicks):
            target = review_versions[(i + 1) % 2]
            # open the list and filter it outside the timed part: the figure is the click on the option
            select.click()
            select.press_sequentially(target, delay=0)
            option = page.get_by_role("option", name=target, exact=True).first
            option.wait_for()
            samples.append(timed_click(page, watcher, option.click, script))
        out["review_p95"], out["review_median"] = p95(samples), statistics.median(samples)
        out["review_script_p95"] = p95(script)
        h.assert_no_exception(page)
    finally:
        page.context.close()
        server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 versions and 8 clicks per figure")
    args = parser.parse_args(argv)
    n_versions, clicks = (2_000, 8) if args.quick else (10_000, 30)
    reason = h.chromium_missing()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cs-ui-bench-") as tmpdir, sync_playwright() as pw:
        tmp = Path(tmpdir)
        secrets = tmp / "secrets.toml"
        secrets.write_text("# no [auth]\n")
        browser = h.launch_chromium(pw)
        t = time.perf_counter()
        demo = demo_workspace(tmp / "demo")
        demo_build = time.perf_counter() - t
        t = time.perf_counter()
        big = synthetic_workspace(tmp / "big", n_versions)
        big_build = time.perf_counter() - t
        inventory = Catalog(big.catalog_path).inventory()
        n_big = len(inventory)
        prod = inventory[inventory["environment"] == "prod"].drop_duplicates("model")["version_id"].tolist()

        bare = bench_bare(browser, tmp, secrets, clicks)
        results = {
            "demo": bench_portal(browser, demo, secrets, clicks,
                                 ("lab-staging:claims-fraud:3", "lab-staging:claims-fraud:2"), tmp / "demo.log"),
            f"{n_big:,} versions": bench_portal(browser, big, secrets, clicks, (prod[0], prod[1]),
                                                tmp / "big.log"),
        }
        browser.close()
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"

    print(f"Countersign UI benchmark — Chromium {'(quick) ' if args.quick else ''}{clicks} clicks per figure; "
          f"demo built in {demo_build:.1f} s, {n_big:,}-version catalog generated in {big_build:.1f} s; "
          f"load average {load} on {os.cpu_count()} CPUs")
    print(f"bare Streamlit (same run): healthy {bare['healthy']:.2f} s, first page {bare['first']:.2f} s, "
          f"click→rerender p95 {bare['p95']:.3f} s (median {bare['median']:.3f} s)")
    print()
    header = (f"{'workspace':<18}{'healthy':>9}{'first page':>12}{'× bare':>8}"
              f"{'inventory p95':>15}{'× bare':>8}{'review p95':>12}{'× bare':>8}  goal p95 ≤ {GOAL_P95:.0f} s")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        ok = max(r["inventory_p95"], r["review_p95"]) <= GOAL_P95
        print(f"{name:<18}{r['healthy']:>8.2f}s{r['first']:>11.2f}s{r['first'] / bare['first']:>7.1f}×"
              f"{r['inventory_p95']:>14.3f}s{r['inventory_p95'] / bare['p95']:>7.1f}×"
              f"{r['review_p95']:>11.3f}s{r['review_p95'] / bare['p95']:>7.1f}×  {'met' if ok else 'MISSED'}")
    print()
    for name, r in results.items():
        print(f"{name}: medians inventory {r['inventory_median']:.3f} s, review {r['review_median']:.3f} s; "
              f"p95 until the server's script_finished: inventory {r['inventory_script_p95']:.3f} s, "
              f"review {r['review_script_p95']:.3f} s (the rest is drawing in the browser)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
