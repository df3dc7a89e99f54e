"""Reports built from user data cannot reach the portal: a column name and a category value carrying scripts go
through Evidently's report in Chromium, and the portal page stays untouched while the report still renders.

Runs after the journeys (file order) on the same session portal: it plants one more model in the demo's dev folder
registry (``xss-probe``), syncs that account through the CLI, and opens the version's Review page as a risk officer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from tests.browser import harness as h
from tests.browser.harness import Server

pytestmark = pytest.mark.browser

VERSION = "lab-dev:xss-probe:1"
HOSTILE_COLUMN = """<img src=x onerror="window.parent.document.title='pwned';top.document.title='pwned'">"""
HOSTILE_VALUE = "<script>parent.document.body.dataset.pwned=1;top.document.body.dataset.pwned=1</script>"
ALERTING_VALUE = "<img src=y onerror=alert('pwned')>"


def plant_hostile_version(workspace: Path) -> None:
    """A version whose data carries scripts in a column name and in category values, then a sync of lab-dev."""
    folder = workspace / "registry" / "dev" / "xss-probe" / "1"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for name, shift in (("reference", 0.0), ("current", 0.8)):
        n = 400
        pd.DataFrame({
            "claim_amount": rng.normal(1000 + 300 * shift, 200, n),
            HOSTILE_COLUMN: rng.normal(shift, 1, n),
            "region": rng.choice(["north", HOSTILE_VALUE, ALERTING_VALUE], n, p=[0.5, 0.3, 0.2]),
        }).to_parquet(folder / f"{name}.parquet", index=False)
    # an artifact is required of a version; the model's features do not match this data (explaining it fails)
    shutil.copyfile(workspace / "registry" / "dev" / "claims-fraud" / "1" / "model.skops", folder / "model.skops")
    (folder / "metadata.json").write_text(json.dumps({
        "approval_status": "PendingManualApproval", "created_at": "2026-03-20T09:00:00", "artifact": "model.skops",
        "created_by": h.DATA_SCIENTIST, "metadata": {"task": "classification"}, "metrics": {},
    }))
    done = subprocess.run([str(h.VENV_BIN / "countersign"), "sync", "--workspace", str(workspace),
                           "--account", "lab-dev", "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"sync failed:\n{done.stdout}\n{done.stderr}"
    (account,) = json.loads(done.stdout)["accounts"]
    assert account["counts"]["added"] == 1 and not account["issues"], account


def test_scripts_in_the_data_run_sandboxed_and_never_touch_the_portal(
    open_as: Callable[[str], Page], portal: Server, browser_workspace: Path
) -> None:
    plant_hostile_version(browser_workspace)
    page = open_as(h.RISK_OFFICER)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    h.open_page(page, portal.url, f"review?version={VERSION}", title="Review")
    h.assert_no_exception(page)
    title = page.title()
    h.click_button(page, "Compute missing evidence", timeout=180_000)
    h.assert_no_exception(page)
    drift = h.open_tab(page, "Drift")
    expect(drift.locator('[data-testid="stMetric"]').filter(has_text="Drifted columns")).to_be_visible()
    drift.get_by_role("button", name="Build the Evidently report (sample ≤ 100,000 rows)").click()
    h.settle(page, 180_000)
    h.assert_no_exception(page)

    outer = page.locator('iframe[title^="Evidently drift report"]')
    expect(outer).to_have_count(1)
    outer.scroll_into_view_if_needed()
    inner_element = page.frame_locator('iframe[title^="Evidently drift report"]').locator("iframe")
    expect(inner_element).to_have_attribute("sandbox", "allow-scripts")
    report = page.frame_locator('iframe[title^="Evidently drift report"]').frame_locator("iframe")
    # the report still renders: Evidently draws its widgets with its own scripts (so they run in the sandbox), and
    # the values that carry "</script>" do not end its inline data early (no raw JSON spilled onto the page)
    expect(report.get_by_text("Drift is detected for 66.667% of columns (2 out of 3).").first).to_be_visible(
        timeout=60_000)
    expect(report.get_by_text("claim_amount").first).to_be_visible()
    expect(report.locator("body")).not_to_contain_text('"reference_distribution"')
    page.wait_for_timeout(2_000)  # give any payload time to fire

    # the portal is untouched: title, body attributes, no dialog, and the page still works
    assert page.title() == title != "pwned"
    assert page.evaluate("document.body.dataset.pwned") is None
    assert page.evaluate("window.top.document.body.dataset.pwned") is None
    assert dialogs == []
    # the sandboxed document has an opaque origin: the portal's cookies and storage are out of its reach
    frame = next(f for f in page.frames if f.parent_frame is not None and f.parent_frame.parent_frame is not None)
    assert frame.evaluate("""() => { try { return parent.document.title; } catch (e) { return 'blocked'; } }""") \
        == "blocked"
    assert frame.evaluate("""() => { try { return document.cookie; } catch (e) { return 'blocked'; } }""") \
        == "blocked"

    # it fits: the frame is as wide as the page body allows, and the report scrolls inside it
    body = h.main_area(page).locator('[data-testid="stMainBlockContainer"]').bounding_box()
    box = outer.bounding_box()
    inner_box = inner_element.bounding_box()
    assert body and box and inner_box
    assert box["x"] >= body["x"] - 1 and box["x"] + box["width"] <= body["x"] + body["width"] + 1
    assert abs(inner_box["width"] - box["width"]) <= 2
    # what is wider than the frame scrolls sideways inside the report instead of being clipped at the right
    assert frame.evaluate("""() => { const card = document.querySelector('.MuiPaper-root');
        return card.scrollWidth <= card.clientWidth || getComputedStyle(card).overflowX === 'auto'; }""")
    h.screenshot(page, "untrusted-report-sandboxed")
    h.assert_no_exception(page)
