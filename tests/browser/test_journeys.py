"""The six journeys of issue 7, clicked through in Chromium against the real portal on a fresh demo workspace.

Each journey asserts what its user sees (text, table rows, charts, no Streamlit exception box) against an oracle
that does not go through the portal: the demo's folder registry read directly, the CLI, or the ledger verifier.
Journeys 2 → 3 → 4 are one story on one request and run in file order; each still finds its request by itself.
A journey whose feature has not landed is skipped with the issue it waits for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import harness as h
from tests.browser.harness import Server

pytestmark = pytest.mark.browser


def registry_versions(workspace: Path, environment: str) -> dict[str, dict]:
    """Oracle: every version of a demo folder registry, read from its files (version id → metadata.json)."""
    account = f"lab-{environment}"
    out: dict[str, dict] = {}
    for meta in sorted((workspace / "registry" / environment).glob("*/*/metadata.json")):
        model, version = meta.parent.parent.name, meta.parent.name
        out[f"{account}:{model}:{version}"] = json.loads(meta.read_text())
    return out


def registry_unapproved_serving(workspace: Path, environment: str) -> set[str]:
    """Oracle: versions an in-service endpoint serves although their registry status is not Approved."""
    versions = registry_versions(workspace, environment)
    deployments = json.loads((workspace / "registry" / environment / "deployments.json").read_text())
    out = set()
    for d in deployments:
        vid = f"lab-{environment}:{d['model']}:{d['version']}"
        if d["status"] == "InService" and versions[vid]["approval_status"] != "Approved":
            out.add(vid)
    return out


def metric_value(page: Page, label: str) -> str:
    """The value shown by the ``st.metric`` labelled ``label``."""
    metric = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)
    )
    expect(metric).to_have_count(1)
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


# -- journey 1 ----------------------------------------------------------------------------------------------------


def test_journey_1_inventory_prod_flags_unapproved_deployment(
    open_as: Callable[[str], Page], portal: Server, browser_workspace: Path
) -> None:
    """A risk officer filters the inventory to prod and sees repair-cost v2 flagged as an unapproved deployment."""
    page = open_as(h.RISK_OFFICER)
    # the default page lives at "/" (Streamlit ignores url_path for the default page)
    h.open_page(page, portal.url, "", title="Model inventory")
    h.assert_no_exception(page)
    # the demo banner names who is acting, so nobody mistakes generated data for real data
    expect(h.demo_banner(page)).to_contain_text(f"Acting as {h.RISK_OFFICER} (risk_officer)")

    h.choose(page, "stMultiSelect", "Environment", "prod")
    h.assert_no_exception(page)

    expected_versions = registry_versions(browser_workspace, "prod")
    expected_flagged = registry_unapproved_serving(browser_workspace, "prod")
    assert expected_flagged == {"lab-prod:repair-cost:2"}, "the demo's planted truth changed"
    expect(page.locator('[data-testid="stMetricValue"]').first).to_be_visible()
    assert metric_value(page, "Versions") == str(len(expected_versions))
    assert metric_value(page, "Unapproved deployments") == str(len(expected_flagged))

    alert = h.main_area(page).locator('[data-testid="stAlertContentError"]')
    expect(alert).to_contain_text("repair-cost v2")
    expect(alert).to_contain_text("repair-cost-prod")
    expect(alert).to_contain_text("PendingManualApproval")

    rows = h.table_csv(page)
    assert set(rows["version_id"]) == set(expected_versions)
    assert set(rows["environment"]) == {"prod"}
    flagged = set(rows.loc[rows["flag"].str.contains("unapproved deployment"), "version_id"])
    assert flagged == expected_flagged
    h.assert_no_exception(page)
    h.screenshot(page, "journey-1-inventory-prod")


# -- the first visit after a (re)start ----------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="app.py: a folder named pages/ next to app.py makes Streamlit run a deep-linked page as a v1 "
           "multipage app (without app.py, so no context) until some session has run st.navigation; "
           "renaming pages/ fixes it — reported to the lead",
)
def test_deep_link_right_after_start(browser_workspace: Path, empty_secrets: Path, browser, tmp_path: Path) -> None:
    """After a restart, a bookmarked /accounts (or an open tab reconnecting) shows the page, not a traceback."""
    server = h.start_portal(browser_workspace, log=tmp_path / "portal.log", secrets=empty_secrets)
    ctx = h.new_context(browser, h.AUDITOR)
    try:
        page = ctx.new_page()
        page.goto(f"{server.url}/accounts")
        page.wait_for_selector(f'{h.EXCEPTION}, [data-testid="stHeading"]')
        h.settle(page)
        h.assert_no_exception(page)
        expect(h.demo_banner(page)).to_be_visible()
    finally:
        ctx.close()
        server.stop()
