"""Every page is reachable at its own URL, the default page too (issue 35, finding 6)."""

from __future__ import annotations

import re

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


def test_the_audit_entry_shows_its_previous_hash_whole(open_as, portal) -> None:
    """Issue 35, finding 12: the entry's previous hash was cut off at the table's edge."""
    page = open_as(harness.AUDITOR)
    harness.open_page(page, portal.url, "audit", title="Audit ledger")
    box = harness.widget(page, "stSelectbox", "Entry")
    box.locator("input").first.click()
    page.get_by_role("option").first.click()
    harness.settle(page)
    detail = page.locator("[class*='st-key-audit'][class*='entry_detail']").first
    detail.wait_for()
    hashes = detail.get_by_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(hashes).to_have_count(2)  # the hash and the previous hash, whole
    shot = harness.screenshot(page, "audit-previous-hash")
    for i in range(2):
        box, frame = hashes.nth(i).bounding_box(), detail.bounding_box()
        assert box and frame and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1, shot
        clipped = hashes.nth(i).evaluate("e => { for (let n = e; n; n = n.parentElement) { if (n.scrollWidth > "
                                         "n.clientWidth + 1 && getComputedStyle(n).overflowX !== 'visible') "
                                         "return true; } return false; }")
        assert not clipped, shot
