"""Every page is reachable at its own URL, the default page too (issue 35, finding 6)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser import harness


def test_typing_the_default_pages_url_opens_it_without_page_not_found(open_as, portal) -> None:
    page = open_as(harness.AUDITOR)
    harness.open_page(page, portal.url, "inventory", title="Model inventory")
    page.wait_for_timeout(1000)  # the error dialog arrives with the run's messages
    expect(page.get_by_text("Page not found")).to_have_count(0)
    harness.assert_no_exception(page)
    # the root still opens the same page, and the sidebar's Inventory link still works from another page
    harness.open_page(page, portal.url, "audit", title="Audit ledger")
    harness.sidebar(page).get_by_role("link", name="Inventory").click()
    harness.heading(page, "Model inventory").first.wait_for()
    expect(page.get_by_text("Page not found")).to_have_count(0)
