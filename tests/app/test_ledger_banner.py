"""Issue 31: every page says, in red, when the ledger does not vouch for the catalog (nobody has to press Verify)."""

from __future__ import annotations

import shutil
from pathlib import Path

from countersign_cli.main import main
from governance.catalog import Catalog

OFFICER = "risk.officer@demo.countersign.dev"
BANNER = "The ledger does not vouch for this catalog"


def errors(at) -> str:
    return "\n".join(str(e.value) for e in at.error)


def test_a_sealed_ledger_shows_no_banner(demo_workspace, app_factory) -> None:
    at = app_factory(demo_workspace.root, persona=OFFICER).run()
    assert not at.exception, at.exception
    assert BANNER not in errors(at)


def test_the_banner_shows_on_a_rolled_back_catalog(demo_copy, app_factory, tmp_path: Path) -> None:
    backup = tmp_path / "old.duckdb"
    shutil.copyfile(demo_copy.catalog_path, backup)
    assert main(["ledger", "checkpoint", "--workspace", str(demo_copy.root), "--actor", OFFICER]) == 0
    shutil.copyfile(backup, demo_copy.catalog_path)  # an older catalog restored after the checkpoint
    at = app_factory(demo_copy.root, persona=OFFICER).run()
    assert not at.exception, at.exception
    assert BANNER in errors(at)
    assert any("older copy" in str(c.value) for c in at.code)
    # AppTest's switch_page runs a page file without app.py; every page through app.py is in tests/browser
    assert Catalog(demo_copy.catalog_path).query_df("SELECT count(*) AS n FROM ledger")["n"][0] > 0
