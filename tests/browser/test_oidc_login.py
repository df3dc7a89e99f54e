"""A real OpenID Connect login: oidc-provider on 127.0.0.1, ``st.login`` configured through ``[auth]``, Chromium.

The provider (tests/browser/oidc/provider.js, npm ``oidc-provider`` pinned by its package-lock.json) shows its own
login and consent pages; any password works and the login name is the e-mail. The portal runs on a private copy of
the demo workspace with ``--secrets.files`` pointing at a secrets file holding ``[auth]``, so OIDC decides who the
user is and the e-mail (or the ``groups`` claim) maps to roles through ``[roles]`` of countersign.toml.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import harness as h
from tests.browser.harness import Server

pytestmark = pytest.mark.browser

OIDC_DIR = Path(__file__).parent / "oidc"
CLIENT_ID = "countersign-portal"
GROUP_USER = "carol@lakeside.example"
STRANGER = "stranger@elsewhere.example"


def ensure_provider_installed() -> None:
    """Install the pinned provider from the npm registry when node_modules is missing (``npm ci`` uses the lock)."""
    if (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("Node.js and npm are needed for the OIDC test: apt-get install -y nodejs npm", pytrace=False)
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=OIDC_DIR, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, f"npm ci in {OIDC_DIR} failed:\n{done.stdout}\n{done.stderr}"


class Provider:
    """The node process of the test identity provider."""

    def __init__(self, port: int, redirect_uri: str, client_secret: str, groups: dict[str, list[str]],
                 log: Path) -> None:
        self.issuer = f"http://127.0.0.1:{port}"
        env = {**os.environ, "OP_PORT": str(port), "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": client_secret,
               "REDIRECT_URI": redirect_uri, "GROUPS": json.dumps(groups)}
        self.log = log
        out = log.open("wb")
        self.process = subprocess.Popen([shutil.which("node") or "node", "provider.js"], cwd=OIDC_DIR, env=env,
                                        stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.perf_counter() + 20
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc provider exited:\n{log.read_text(errors='replace')}")
            if "ready " in log.read_text(errors="replace"):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"oidc provider not ready:\n{log.read_text(errors='replace')}")

    def stop(self) -> None:
        """Stop the node process this fixture started."""
        h.terminate(self.process)


@pytest.fixture(scope="module")
def oidc_portal(browser_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Provider + portal with ``[auth]``; the workspace grants the group ``model-risk`` the risk officer role."""
    ensure_provider_installed()
    tmp = tmp_path_factory.mktemp("oidc")
    workspace = tmp / "ws"
    shutil.copytree(browser_workspace, workspace)
    config = workspace / "countersign.toml"
    text = config.read_text()
    assert "\n[roles]\n" in text
    config.write_text(text.replace("\n[roles]\n", '\n[roles]\n"group:model-risk" = ["risk_officer"]\n', 1))

    app_port, op_port = h.free_port(), h.free_port()
    redirect_uri = f"http://127.0.0.1:{app_port}/oauth2callback"
    client_secret = pysecrets.token_urlsafe(24)
    provider = Provider(op_port, redirect_uri, client_secret, {GROUP_USER: ["model-risk"]}, tmp / "provider.log")
    secrets_file = tmp / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "{redirect_uri}"\n'
        f'cookie_secret = "{pysecrets.token_urlsafe(32)}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{client_secret}"\n'
        f'server_metadata_url = "{provider.issuer}/.well-known/openid-configuration"\n'
    )
    try:
        server = h.start_portal(workspace, log=h.ROOT / "test-output" / "portal-oidc.log", secrets=secrets_file,
                                port=app_port)
    except BaseException:
        provider.stop()
        raise
    try:
        yield server
    finally:
        server.stop()
        provider.stop()


def sign_in(page: Page, portal: Server, email: str) -> None:
    """Click "Sign in", log in on the provider's own pages, consent, and land back on the portal."""
    h.open_page(page, portal.url, "")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    h.assert_no_exception(page)
    expect(h.heading(page, "Model inventory")).to_have_count(0)
    # the button leaves the portal for the provider: no rerun to wait for
    h.main_area(page).get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not url.startswith(portal.url), timeout=20_000)
    page.locator('input[name="login"]').fill(email)
    page.locator('input[name="password"]').fill("any password works here")
    page.get_by_role("button", name="Sign-in").click()
    # the provider asks for consent on the first authorization of this client
    page.wait_for_url(lambda url: url.startswith(portal.url) or "/interaction/" in url, timeout=20_000)
    if not page.url.startswith(portal.url):
        page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: url.startswith(portal.url), timeout=20_000)
    page.wait_for_selector('[data-testid="stApp"]')
    h.settle(page)


def test_oidc_anonymous_visitor_sees_no_pages(new_page: Callable[..., Page], oidc_portal: Server) -> None:
    """Before signing in, the sidebar lists no pages and a deep link shows the sign-in screen, not a traceback.

    It runs first in this module on purpose: the defect shows only until somebody has signed in.
    """
    page = new_page()
    h.open_page(page, oidc_portal.url, "")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator('[data-testid="stSidebarNavLink"]')).to_have_count(0)
    h.open_page(page, oidc_portal.url, "inventory")
    h.assert_no_exception(page)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def test_oidc_login_maps_email_to_role_and_logout_ends_access(new_page: Callable[..., Page], oidc_portal: Server) -> None:
    """The risk officer signs in at the provider, sees the inventory as risk_officer; after signing out, nothing."""
    page = new_page()  # no trusted header: OIDC alone decides
    ctx = page.context
    sign_in(page, oidc_portal, h.RISK_OFFICER)
    expect(h.heading(page, "Model inventory")).to_be_visible()
    h.assert_no_exception(page)
    expect(h.demo_banner(page)).to_contain_text(h.RISK_OFFICER)
    expect(h.demo_banner(page)).to_contain_text("(risk_officer)")
    expect(h.sidebar(page)).to_contain_text(h.RISK_OFFICER)
    # the persona switcher of the demo must not appear once a real sign-in is configured
    expect(h.sidebar(page).get_by_text("Acting as", exact=True)).to_have_count(0)
    assert any(c["name"].startswith("_streamlit_user") for c in ctx.cookies())
    h.screenshot(page, "oidc-signed-in")

    h.sidebar(page).get_by_role("button", name="Sign out").click()
    # Streamlit drops its cookie, then sends the browser to the provider's end-session page
    page.wait_for_url(lambda url: not url.startswith(oidc_portal.url), timeout=20_000)
    assert not any(c["name"].startswith("_streamlit_user") for c in ctx.cookies())

    h.open_page(page, oidc_portal.url, "")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(h.heading(page, "Model inventory")).to_have_count(0)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(0)
    h.assert_no_exception(page)
    h.screenshot(page, "oidc-signed-out")


def test_oidc_user_without_role_sees_no_data(new_page: Callable[..., Page], oidc_portal: Server) -> None:
    """Someone the provider knows but countersign.toml grants no role gets a notice and no inventory."""
    page = new_page()
    sign_in(page, oidc_portal, STRANGER)
    expect(h.heading(page, "No access yet")).to_be_visible()
    expect(h.main_area(page)).to_contain_text(STRANGER)
    expect(h.heading(page, "Model inventory")).to_have_count(0)
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(0)
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(0)
    # nor can a deep link reach a page
    h.open_page(page, oidc_portal.url, "model", title="No access yet")
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(0)
    expect(h.heading(page, "Versions by environment")).to_have_count(0)
    h.assert_no_exception(page)
    h.screenshot(page, "oidc-no-role")


def test_oidc_groups_claim_grants_role(new_page: Callable[..., Page], oidc_portal: Server) -> None:
    """A user with no e-mail entry but in the ``model-risk`` group (ID-token claim) gets that group's role."""
    page = new_page()
    sign_in(page, oidc_portal, GROUP_USER)
    expect(h.heading(page, "Model inventory")).to_be_visible()
    expect(h.demo_banner(page)).to_contain_text(GROUP_USER)
    expect(h.demo_banner(page)).to_contain_text("(risk_officer)")
    h.assert_no_exception(page)



def test_an_oidc_identity_survives_every_cross_page_button(new_page: Callable[..., Page], oidc_portal: Server,
                                                           browser_workspace: Path) -> None:
    """Issue 34, finding 1 with a real login: the auditor stays the auditor on every page a button opens."""
    page = new_page()
    sign_in(page, oidc_portal, h.AUDITOR)
    expect(h.heading(page, "Model inventory")).to_be_visible()
    # the OIDC workspace is a copy of the browser workspace: the same requests
    pressed = h.cross_page_buttons(page, h.AUDITOR, "auditor",
                                   request_id=h.request_without_evidence(browser_workspace), may_approve=False)
    assert len(pressed) == 4
    expect(h.sidebar(page)).to_contain_text(h.AUDITOR)
