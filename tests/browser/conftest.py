"""Browser fixtures: one fresh demo workspace, one portal server and one Chromium per test session.

The portal runs exactly as a user starts it (``streamlit run app.py -- --workspace DIR``) on a free 127.0.0.1 port.
Who the user is comes from a trusted header that only this fixture switches on (``[auth] trusted_headers = true``
with loopback as ``trusted_proxies``, appended to the test workspace's ``countersign.toml``); each persona gets its
own browser context sending ``X-Forwarded-Email``, so two personas are two independent Streamlit sessions, as two people would be.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.browser import harness
from tests.browser.harness import Server

# expect() retries until this timeout: generous, because CI machines run other suites at the same time
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Playwright]:
    """Playwright's driver, once per session."""
    reason = harness.chromium_missing()
    if reason:
        pytest.fail(reason, pytrace=False)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, once per session."""
    b = harness.launch_chromium(playwright_session)
    yield b
    b.close()


@pytest.fixture(scope="session")
def browser_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh demo workspace built by the CLI, with trusted-header sign-in switched on for the tests."""
    root = tmp_path_factory.mktemp("browser") / "ws"
    done = subprocess.run(
        [str(harness.VENV_BIN / "countersign"), "demo", "--workspace", str(root)],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert done.returncode == 0, f"countersign demo failed:\n{done.stdout}\n{done.stderr}"
    config = root / "countersign.toml"
    text = config.read_text()
    assert "\n[auth]" not in text, "the demo config grew an [auth] section: adapt the fixture"
    # Chromium reaches the portal over loopback: that is the "proxy" allowed to set the header
    config.write_text(f'{text}\n[auth]\ntrusted_headers = true\nemail_header = "{harness.EMAIL_HEADER}"\n'
                      f"trusted_proxies = {json.dumps(list(harness.LOOPBACK))}\n")
    return root


@pytest.fixture(scope="session")
def empty_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A secrets file without ``[auth]``: the test portal never reads a developer's ``.streamlit/secrets.toml``."""
    secrets = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    secrets.write_text("# no [auth]: identity comes from the trusted header\n")
    return secrets


@pytest.fixture(scope="session")
def portal(browser_workspace: Path, empty_secrets: Path, browser: Browser) -> Iterator[Server]:
    """The portal on the demo workspace, one server for the whole session, warmed up on its default page.

    The warm-up visit to ``/`` is needed because of the deep-link defect that
    ``test_deep_link_right_after_start`` pins down; the journeys test what users do after that.
    """
    server = harness.start_portal(browser_workspace, log=harness.ROOT / "test-output" / "portal.log",
                                  secrets=empty_secrets)
    try:
        ctx = harness.new_context(browser, harness.AUDITOR)
        harness.open_page(ctx.new_page(), server.url, "", title="Model inventory")
        ctx.close()
        yield server
    finally:
        server.stop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """``new_page(email=None)`` → a page in its own fresh browser context (its own cookies and Streamlit session).

    With ``email`` the context sends it as the trusted header. Contexts close after the test; when the test
    failed, every page it opened is saved under test-output/screenshots/FAILED-*.png first.
    """
    contexts: list[BrowserContext] = []

    def _open(email: str | None = None) -> Page:
        ctx = harness.new_context(browser, email)
        ctx.set_default_timeout(30_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield _open
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for i, ctx in enumerate(contexts):
        if failed:
            for j, page in enumerate(ctx.pages):
                try:
                    harness.screenshot(page, f"FAILED-{request.node.name}-{i}-{j}")
                except Exception:  # a crashed page must not hide the test's own failure
                    pass
        ctx.close()


@pytest.fixture
def open_as(new_page: Callable[..., Page], portal: Server) -> Callable[[str], Page]:
    """``open_as(email)`` → a new page of that persona on the session's demo portal."""
    return new_page
