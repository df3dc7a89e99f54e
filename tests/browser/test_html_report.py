"""The interactive HTML report opens in Chromium offline: its charts draw and its tables sort, with every request
that is not the file itself blocked; and the file is the one whose sha256 the export's ledger entry records.

Needs no portal: the report is exported through ``export_report`` (as the CLI and the Export page do) into a copy of
the demo workspace with drift and bias evidence, then opened as ``file://``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route, expect

from governance import ledger
from governance.config import Workspace
from governance.reports.export import export_report
from tests.browser import harness as h
from tests.governance.report_world import BIASED, OFFICER, add_bias, add_decisions, add_drift, open_world

pytestmark = pytest.mark.browser

SORTABLE_NUMBERS = """() => {
  for (const [t, table] of [...document.querySelectorAll("table.sortable")].entries()) {
    const rows = [...table.tBodies[0].rows];
    if (rows.length < 3) continue;
    const width = table.tHead.rows[0].cells.length;
    for (let c = 0; c < width; c++) {
      const cells = rows.map(r => r.cells[c]);
      if (!cells.every(x => x && x.hasAttribute("data-v"))) continue;
      const values = cells.map(x => parseFloat(x.getAttribute("data-v")));
      const sorted = [...values].sort((a, b) => a - b);
      if (values.some((v, i) => v !== sorted[i])) return [t, c];
    }
  }
  return null;
}"""


def column(table, index: int) -> list[float]:
    return [float(v) for v in table.locator(f"tbody tr td:nth-child({index + 1})").evaluate_all(
        "cells => cells.map(c => c.getAttribute('data-v'))")]


def test_html_report_opens_offline_with_charts_and_sortable_tables(browser: Browser, demo_copy: Workspace,
                                                                   tmp_path: Path) -> None:
    w = open_world(demo_copy)
    add_drift(w, BIASED)
    add_bias(w, BIASED)
    add_decisions(w, BIASED)
    done = export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), BIASED, out=tmp_path / "annex.pdf")
    page_file = tmp_path / "annex.html"
    assert done.html_path == page_file and done.charts >= 2
    # its hash matches the ledger: the entry of this export records the sha256 of the file on disk
    entry = ledger.entry(w.catalog, done.ledger_seq)
    assert entry.payload["html_sha256"] == hashlib.sha256(page_file.read_bytes()).hexdigest()

    context = h.new_context(browser, None)
    blocked: list[str] = []

    def offline(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(page_file.as_uri())
        expect(page.get_by_role("heading", name="Data drift").first).to_be_visible()

        # every chart is drawn by vega-embed: an SVG of marks inside its div, none failed
        charts = page.locator("div.chart")
        expect(charts).to_have_count(done.charts)
        for i in range(done.charts):
            expect(page.locator(f"#cs-chart-{i} svg.marks")).to_have_count(1, timeout=30_000)
        expect(page.locator("div.chart.missing")).to_have_count(0)
        box = page.locator("#cs-chart-0 svg.marks").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 30

        # a click on a header sorts the rows by that column (numbers as numbers), a second click reverses them
        found = page.evaluate(SORTABLE_NUMBERS)
        assert found is not None, "no numeric column out of order to sort"
        t, c = found
        table = page.locator("table.sortable").nth(t)
        header = table.locator("thead th").nth(c)
        header.scroll_into_view_if_needed()
        before = column(table, c)
        header.click()
        expect(header).to_have_attribute("aria-sort", "ascending")
        assert column(table, c) == sorted(before)
        header.click()
        expect(header).to_have_attribute("aria-sort", "descending")
        assert column(table, c) == sorted(before, reverse=True)
        h.screenshot(page, "html-report-offline")

        assert blocked == [], f"the report asked the network for {blocked}"
        assert errors == [], errors
    finally:
        context.close()
