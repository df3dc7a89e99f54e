"""Who acts, in Chromium: identity survives every cross-page button, and a proxy header counts only from the proxy.

Issue 34, findings 1 and 10. The session portal (conftest) runs the demo workspace with ``trusted_headers`` from
loopback (``trusted_proxies``): a context without the header gets the demo persona switcher, one with it is that
person. Each persona presses every button that switches pages and must arrive as the same person, with the same
roles, in the banner, the sidebar and what the page offers.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

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
