"""Who acts, in Chromium: identity survives every cross-page button, and a proxy header counts only from the proxy.

Issue 34, findings 1 and 10. The session portal (conftest) runs the demo workspace with ``trusted_headers`` from
loopback (``trusted_proxies``): a context without the header gets the demo persona switcher, one with it is that
person. Each persona presses every button that switches pages and must arrive as the same person, with the same
roles, in the banner, the sidebar and what the page offers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from governance.demo import PERSONAS
from tests.browser import harness as h
from tests.browser.harness import Server

pytestmark = pytest.mark.browser


def test_a_header_from_outside_the_trusted_proxies_is_refused(browser: Browser, portal: Server) -> None:
    """A peer that is not a trusted proxy cannot claim an identity with the header (finding 10).

    Streamlit's server takes the peer from ``X-Forwarded-For`` when the connection comes from loopback, so a
    request forwarded for 203.0.113.7 is, to the portal, a connection from 203.0.113.7: not a trusted proxy.
    """
    ctx = h.new_context(browser, h.RISK_OFFICER)
    ctx.set_extra_http_headers({h.EMAIL_HEADER: h.RISK_OFFICER, "X-Forwarded-For": "203.0.113.7"})
    try:
        page = ctx.new_page()
        h.open_page(page, portal.url, "", title="Access refused")
        h.assert_no_exception(page)
        expect(h.main_area(page)).to_contain_text("203.0.113.7")
        expect(h.main_area(page)).to_contain_text("trusted_proxies")
        expect(h.heading(page, "Model inventory")).to_have_count(0)
        expect(page.locator('[data-testid="stSidebarNavLink"]')).to_have_count(0)
        h.open_page(page, portal.url, "requests")  # a deep link is refused the same way
        expect(h.heading(page, "Access refused")).to_be_visible()
        expect(h.heading(page, "Promotion requests")).to_have_count(0)
    finally:
        ctx.close()


def test_the_same_header_from_the_trusted_proxy_signs_in(new_page: Callable[..., Page], portal: Server) -> None:
    """The control of the test above: from loopback (the configured proxy) the header decides who acts."""
    page = new_page(h.RISK_OFFICER)
    h.open_page(page, portal.url, "", title="Model inventory")
    expect(h.demo_banner(page)).to_contain_text(f"Acting as {h.RISK_OFFICER} (risk_officer)")


# -- finding 1: the person stays the same across every cross-page button ---------------------------------------------


@pytest.mark.parametrize("email", list(PERSONAS))
def test_the_demo_persona_survives_every_cross_page_button(new_page: Callable[..., Page], portal: Server,
                                                          browser_workspace: Path, email: str) -> None:
    """Picked in the sidebar, each persona presses every cross-page button and arrives as itself (finding 1)."""
    label, role = PERSONAS[email]
    page = new_page()  # no header: the demo's persona switcher decides
    h.open_page(page, portal.url, "", title="Model inventory")
    if label != h.widget(page, "stSelectbox", "Acting as").locator("input").input_value():
        h.choose(page, "stSelectbox", "Acting as", label)
    h.acting_as(page, email, role, label)
    pressed = h.cross_page_buttons(page, email, role, label=label,
                                   request_id=h.request_without_evidence(browser_workspace),
                                   may_approve=None if role == "risk_officer" else False)
    assert pressed == [b for b, _ in h.MODEL_BUTTONS] + [h.REQUESTS_BUTTON[0]]


def test_a_proxy_header_identity_survives_every_cross_page_button(new_page: Callable[..., Page], portal: Server,
                                                                  browser_workspace: Path) -> None:
    """The auditor signed in by the trusted header stays the auditor on every page a button opens."""
    page = new_page(h.AUDITOR)
    h.open_page(page, portal.url, "", title="Model inventory")
    expect(h.sidebar(page).get_by_text("Acting as", exact=True)).to_have_count(0)
    h.cross_page_buttons(page, h.AUDITOR, "auditor", request_id=h.request_without_evidence(
        browser_workspace), may_approve=False)


def test_the_first_visit_after_a_restart_keeps_the_persona_of_the_link(browser_workspace: Path, empty_secrets: Path,
                                                                       browser: Browser, tmp_path: Path) -> None:
    """Right after a (re)start, ``?as=auditor@…`` opens as the auditor, on the page the link names (finding 1)."""
    server = h.start_portal(browser_workspace, log=tmp_path / "portal.log", secrets=empty_secrets)
    contexts = []
    try:
        for path, title, email in (("requests", "Promotion requests", h.AUDITOR),
                                   ("", "Model inventory", h.DATA_SCIENTIST),
                                   ("model", None, h.AUDITOR)):
            ctx = h.new_context(browser)  # no header: the link's persona, through the demo switcher
            contexts.append(ctx)
            page = ctx.new_page()
            page.goto(f"{server.url}/{path}?as={urllib.parse.quote(email)}")
            page.wait_for_selector(f'{h.EXCEPTION}, [data-testid="stHeading"]')
            h.settle(page)
            h.assert_no_exception(page)
            if title:
                expect(h.heading(page, title)).to_be_visible()
            label, role = PERSONAS[email]
            h.acting_as(page, email, role, label)
    finally:
        for ctx in contexts:
            ctx.close()
        server.stop()
