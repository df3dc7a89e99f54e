"""Drive the real portal: start ``streamlit run app.py`` on a free loopback port and Debian's Chromium via Playwright.

Shared by the browser tests (``tests/browser/conftest.py``) and ``benchmarks/ui.py``, so both measure the same thing.
Chromium is the Debian package at ``/usr/bin/chromium`` (``make system-deps``); Playwright never downloads a browser.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, expect

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CHROMIUM = Path(os.environ.get("COUNTERSIGN_CHROMIUM", "/usr/bin/chromium"))
# FACTS.md: the flags that keep Debian's Chromium headless, offline and quiet in a container
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
# Streamlit scrolls inside its own container, so a full-page screenshot is only the viewport: make it tall
VIEWPORT = {"width": 1440, "height": 2600}
SCREENSHOTS = ROOT / "test-output" / "screenshots"
EMAIL_HEADER = "X-Forwarded-Email"
# where the browser tests' trusted header may come from ([auth] trusted_proxies): Chromium on this machine
LOOPBACK = ("127.0.0.1/32", "::1/128")

DEMO = "demo.countersign.dev"
RISK_OFFICER = f"risk.officer@{DEMO}"
VALIDATOR = f"validator@{DEMO}"
ML_ENGINEER = f"ml.engineer@{DEMO}"
DATA_SCIENTIST = f"data.scientist@{DEMO}"
AUDITOR = f"auditor@{DEMO}"

# stApp carries the script-run state (initial, running, rerunRequested, notRunning, ...); elements of the previous
# run stay on screen marked stale until the new run replaces them
BUSY_STATES = ("initial", "running", "rerunRequested")
STALE = '[data-stale="true"]'
EXCEPTION = '[data-testid="stException"]'


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_missing() -> str | None:
    """Why Chromium cannot run here, or None when it can."""
    if not CHROMIUM.exists():
        return f"Chromium not found at {CHROMIUM}: run `make system-deps` (apt-get install -y chromium)"
    return None


def terminate(process: subprocess.Popen) -> None:
    """Ask a child process to stop, kill it after 10 s, and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class Server:
    """A running ``streamlit run`` process and where it listens."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    started: float = field(default_factory=time.perf_counter)
    healthy_after: float = 0.0

    def log_tail(self, lines: int = 40) -> str:
        """The last lines Streamlit printed (for failure messages)."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server this harness started, then reap it."""
        terminate(self.process)


def start_portal(
    workspace: Path,
    *,
    log: Path,
    secrets: Path,
    cwd: Path = ROOT,
    app: Path = ROOT / "app.py",
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    port: int | None = None,
    timeout: float = 30.0,
    launcher: Sequence[str] = (),
) -> Server:
    """Start the portal on a free 127.0.0.1 port and wait until ``/_stcore/health`` answers.

    ``secrets`` is the only secrets file Streamlit reads (``--secrets.files``): the test server never picks up a
    developer's ``.streamlit/secrets.toml``. The file watcher is off because other people edit the checkout while
    tests run, and a reload mid-test would be a flaky failure, not a finding. ``launcher``: the command before
    ``run`` (default Streamlit's own; ``python -m portal.launch`` is what ``countersign serve`` runs).
    """
    port = port or free_port()
    cmd = [
        *(launcher or (str(VENV_BIN / "streamlit"),)), "run", str(app),
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--server.fileWatcherType", "none", "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
        "--secrets.files", str(secrets),
        *extra_args,
        "--", "--workspace", str(workspace),
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("wb")
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env or os.environ.copy())
    out.close()
    server = Server(process=proc, url=f"http://127.0.0.1:{port}", log=log, started=started)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    server.healthy_after = time.perf_counter() - started
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"streamlit not healthy after {timeout:.0f} s:\n{server.log_tail()}")


def launch_chromium(pw: Playwright) -> Browser:
    """Debian's Chromium, headless, with the flags from FACTS.md."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS), headless=True)


def new_context(browser: Browser, email: str | None = None, **kwargs) -> BrowserContext:
    """A fresh browser profile (own cookies, own Streamlit session); ``email`` is sent as the trusted header."""
    headers = {EMAIL_HEADER: email} if email else {}
    ctx = browser.new_context(viewport=VIEWPORT, extra_http_headers=headers, accept_downloads=True, **kwargs)
    # Streamlit saves a table's CSV through the File System Access API when the browser has it, which opens a
    # native dialog headless Chromium never answers; without it Streamlit falls back to an ordinary download
    ctx.add_init_script("window.showSaveFilePicker = undefined;")
    return ctx


def settle(page: Page, timeout: float = 30_000) -> None:
    """Wait until the current script run has finished and no element of the previous run is left on screen."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    # a widget event reaches the server a moment after the click: give the rerun the chance to start
    page.wait_for_timeout(100)
    page.wait_for_function(
        """([busy, stale]) => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && !busy.includes(app.dataset.testScriptState) && !document.querySelector(stale);
        }""",
        arg=[list(BUSY_STATES), STALE],
        timeout=timeout,
    )


def open_page(page: Page, base_url: str, path: str = "", *, title: str | None = None,
              timeout: float = 45_000) -> None:
    """Load ``base_url/path`` and wait for the run to finish (and for the heading ``title`` when given)."""
    page.goto(f"{base_url}/{path.lstrip('/')}", wait_until="domcontentloaded")
    if title:
        heading(page, title).first.wait_for(timeout=timeout)
    settle(page, timeout)


def assert_no_exception(page: Page) -> None:
    """No Streamlit exception box anywhere on the screen (a traceback shown to a user is always a bug)."""
    boxes = page.locator(EXCEPTION)
    if boxes.count():
        raise AssertionError(f"Streamlit exception on {page.url}:\n{boxes.first.inner_text()[:2000]}")


def screenshot(page: Page, name: str) -> Path:
    """Save the screen for humans under test-output/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def heading(page: Page, text: str) -> Locator:
    """A heading whose text is exactly ``text`` (``get_by_text`` alone matches substrings, case-insensitively)."""
    return page.get_by_role("heading", name=text, exact=True)


def demo_banner(page: Page) -> Locator:
    """The demo workspace's banner, which names who is acting and with which roles."""
    return main_area(page).locator('[data-testid="stAlert"]').filter(has_text="Demo workspace")


def main_area(page: Page) -> Locator:
    """The page body (not the sidebar)."""
    return page.locator('[data-testid="stMain"]')


def sidebar(page: Page) -> Locator:
    """The sidebar."""
    return page.locator('[data-testid="stSidebar"]')


def widget(page: Page, testid: str, label: str) -> Locator:
    """The Streamlit widget of kind ``testid`` (e.g. ``stMultiSelect``) whose label is exactly ``label``."""
    return page.locator(f'[data-testid="{testid}"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]').get_by_text(label, exact=True)
    )


def choose(page: Page, testid: str, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox or multiselect labelled ``label`` and wait for the rerun."""
    box = widget(page, testid, label)
    expect(box).to_have_count(1)
    field_ = box.locator("input").first
    field_.click()
    # long option lists are virtualised: type to filter so the option is rendered at all
    field_.press_sequentially(option, delay=5)
    page.get_by_role("option", name=option, exact=True).first.click()
    if testid == "stMultiSelect":
        page.keyboard.press("Escape")
    settle(page)


def fill(page: Page, testid: str, label: str, text: str) -> None:
    """Type ``text`` into the text input / area labelled ``label`` and commit it (Tab), then wait for the rerun."""
    box = widget(page, testid, label)
    field_ = box.locator("textarea, input").first
    field_.fill(text)
    if testid == "stTextArea":
        field_.press("Control+Enter")
    else:
        field_.press("Enter")
    settle(page)


def click_button(page: Page, name: str, *, exact: bool = False, timeout: float = 30_000) -> None:
    """Click the button called ``name`` in the main area and wait for the rerun."""
    main_area(page).get_by_role("button", name=name, exact=exact).first.click()
    settle(page, timeout)


def alerts(page: Page, kind: str) -> Locator:
    """The main area's alerts of one kind: Success, Info, Warning or Error."""
    return main_area(page).locator(f'[data-testid="stAlertContent{kind}"]')


def charts(page: Page) -> Locator:
    """Every Vega-Lite (Altair) chart drawn in the main area."""
    return main_area(page).locator('[data-testid="stVegaLiteChart"]')


def open_tab(page: Page, name: str) -> Locator:
    """Select the tab ``name`` (no rerun) and return its panel."""
    page.get_by_role("tab", name=name, exact=True).click()
    return page.get_by_role("tabpanel", name=name)


def dataframe(page: Page, index: int = 0) -> Locator:
    """The ``index``-th ``st.dataframe`` of the main area."""
    return main_area(page).locator('[data-testid="stDataFrame"]').nth(index)


def table_csv(page: Page, index: int = 0) -> pd.DataFrame:
    """The rows of a table as the user downloads them with the table's own "Download as CSV" button.

    The grid draws on a canvas, so its cells are not in the DOM; the download is what a user can take away.
    """
    grid = dataframe(page, index)
    grid.scroll_into_view_if_needed()
    grid.hover()
    with page.expect_download(timeout=15_000) as dl:
        grid.get_by_role("button", name="Download as CSV").click()
    return pd.read_csv(dl.value.path(), encoding="utf-8-sig", dtype=str, keep_default_na=False)


# glide-data-grid geometry at Streamlit's default theme: a 36 px header, then 35 px rows
_HEADER_PX, _ROW_PX = 36, 35


def select_row(page: Page, row: int, index: int = 0) -> None:
    """Tick row ``row`` (0-based, as displayed) of a selectable table by clicking its selection column."""
    grid = dataframe(page, index)
    grid.scroll_into_view_if_needed()
    box = grid.locator('canvas[data-testid="data-grid-canvas"]').bounding_box()
    assert box is not None, "the table is not on screen"
    page.mouse.click(box["x"] + 15, box["y"] + _HEADER_PX + _ROW_PX * row + _ROW_PX / 2)
    settle(page)


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    out: list[float] = []
    start = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - start)


# -- who acts: every button that switches pages must keep the person (issue 34, finding 1) ---------------------------

# the buttons that move to another page (label, the heading of the page they open); the Model page's three,
# then the Requests page's "Open Review" (shown for a request whose version lacks evidence)
MODEL_BUTTONS = (("Review evidence", "Review"), ("Promotion requests", "Promotion requests"),
                 ("Export report", "Export"))
REQUESTS_BUTTON = ("Open Review", "Review")


def request_without_evidence(workspace: Path) -> str:
    """Oracle (the CLI): a decided request whose version has no evidence, so its page offers "Open Review"."""
    done = subprocess.run([str(VENV_BIN / "countersign"), "requests", "--workspace", str(workspace), "--json"],
                          capture_output=True, text=True, timeout=120, check=True)
    rows = [r for r in json.loads(done.stdout) if r["version_id"] == "lab-dev:repair-cost:3"]
    assert rows, "the demo's rejected repair-cost v3 request is gone: adapt the test"
    return rows[0]["request_id"]


def acting_as(page: Page, email: str, roles: str, label: str | None = None) -> None:
    """The banner names ``email`` with ``roles``; the URL names nobody else; the demo picker shows ``label``."""
    expect(demo_banner(page)).to_contain_text(email)
    expect(demo_banner(page)).to_contain_text(f"({roles})")
    named = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query).get("as")
    assert named in (None, [email]), f"{page.url} names {named}, not {email}"
    if label is not None:
        expect(widget(page, "stSelectbox", "Acting as").locator("input")).to_have_value(label)


def go_to(page: Page, link: str, title: str | None = None) -> None:
    """Follow the sidebar link ``link`` in the same session (no reload) and wait for the page."""
    sidebar(page).get_by_role("link", name=re.compile(rf"^{re.escape(link)}( \(\d+\))?$")).click()
    if title:
        heading(page, title).first.wait_for()
    settle(page)


def cross_page_buttons(page: Page, email: str, roles: str, *, label: str | None = None,
                       request_id: str, may_approve: bool | None) -> list[str]:
    """Press every cross-page button as the person already acting on ``page``; check who acts after each one.

    Returns the buttons pressed (so a test can assert none was skipped). With ``may_approve=False`` the promotion
    requests of the Model page's version must show no Approve button (None: not checked, as whether a risk officer
    sees one depends on what other tests decided).
    """
    pressed = []
    for button, title in MODEL_BUTTONS:
        go_to(page, "Model")
        acting_as(page, email, roles, label)
        click_button(page, button, exact=True)
        heading(page, title).first.wait_for()
        settle(page)
        assert_no_exception(page)
        acting_as(page, email, roles, label)
        if title == "Promotion requests" and may_approve is False:
            expect(main_area(page).get_by_role("button", name="Approve", exact=True)).to_have_count(0)
        pressed.append(button)
    go_to(page, "Requests", "Promotion requests")
    clear = main_area(page).get_by_role("button", name="Show all requests")
    if clear.count():
        clear.click()
        settle(page)
    choose(page, "stSelectbox", "Request", request_id)
    acting_as(page, email, roles, label)
    button, title = REQUESTS_BUTTON
    click_button(page, button, exact=True)
    heading(page, title).first.wait_for()
    settle(page)
    assert_no_exception(page)
    acting_as(page, email, roles, label)
    pressed.append(button)
    return pressed
