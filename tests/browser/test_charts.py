"""Charts as users see them in Chromium: every row of the model's history has a band and a readable label."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import harness as h
from tests.browser.harness import Server

pytestmark = pytest.mark.browser


def test_the_history_chart_gives_every_lane_its_own_labelled_row(new_page: Callable[..., Page], portal: Server,
                                                                 browser_workspace: Path) -> None:
    # the chart used to get one total height, legend and axis inside it: two lanes shared one band and labels of
    # others were dropped. Oracle: the lanes the history itself holds, read without the portal.
    from governance.catalog import Catalog
    from governance.history import model_timeline

    timeline = model_timeline(Catalog(browser_workspace / "catalog.duckdb"), "claims-fraud")
    lanes = sorted(set(timeline["environment"] + " · " + timeline["lane"]))
    assert len(lanes) >= 5  # versions, deployments and decisions in several environments

    page = new_page(h.RISK_OFFICER)
    h.open_page(page, portal.url, "model?model=claims-fraud", title="claims-fraud")
    h.assert_no_exception(page)
    chart = h.charts(page).first  # History comes first on the page
    expect(chart.locator("svg")).to_be_visible()
    labels = chart.locator("svg g.role-axis").filter(has=page.locator("g.role-axis-label")).evaluate_all(
        """axes => axes.flatMap(axis => Array.from(axis.querySelectorAll('g.role-axis-label text'))
               .map(t => ({text: t.textContent, y: t.getBoundingClientRect().top, x: t.getBoundingClientRect().left})))""")
    rows = sorted((label for label in labels if "·" in label["text"]), key=lambda label: label["y"])
    assert sorted(r["text"] for r in rows) == lanes, rows  # every lane named in full, none dropped or cut short
    gaps = [b["y"] - a["y"] for a, b in itertools.pairwise(rows)]
    assert min(gaps) >= 18, gaps  # a band of its own for each lane
    h.screenshot(page, "model-history-chart")
