"""Issue 31: on a catalog the signed head disowns, every page says so in red before anyone presses Verify."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser import harness

pytestmark = pytest.mark.browser

PAGES = (("", "Model inventory"), ("requests", "Promotion requests"), ("audit", "Audit"))


def test_every_page_shows_the_red_banner_on_a_rolled_back_catalog(browser_workspace: Path, empty_secrets: Path,
                                                                   new_page, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(browser_workspace, ws)
    backup = tmp_path / "old.duckdb"
    shutil.copyfile(ws / "catalog.duckdb", backup)
    done = subprocess.run([str(harness.VENV_BIN / "countersign"), "ledger", "checkpoint", "--workspace", str(ws),
                           "--actor", harness.AUDITOR], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    shutil.copyfile(backup, ws / "catalog.duckdb")  # the catalog restored from before the checkpoint
    server = harness.start_portal(ws, log=harness.ROOT / "test-output" / "portal-banner.log", secrets=empty_secrets)
    try:
        page = new_page(harness.RISK_OFFICER)
        for path, title in PAGES:
            harness.open_page(page, server.url, path)
            harness.assert_no_exception(page)
            banner = harness.alerts(page, "Error").filter(has_text="The ledger does not vouch for this catalog")
            assert banner.count() == 1, (path, title)
            reason = harness.main_area(page).locator('[data-testid="stCode"]').first
            assert "older copy" in reason.text_content(), path
        harness.screenshot(page, "ledger-banner-rolled-back")
    finally:
        server.stop()
