"""governance.sync: what a sync over several accounts promises beyond each account's own write."""

from __future__ import annotations

import time

import pytest

from core.errors import InputError
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import identity_for
from governance.sync import sync


@pytest.mark.parametrize("full", [True, False])
def test_a_sync_whose_catalog_cannot_record_the_accounts_fails_at_once_and_writes_nothing(
    demo_copy: Workspace, full: bool
) -> None:
    # a full pass starts reading the registries before the accounts are recorded (it needs no watermark); when
    # recording them fails, the sync raises that error and no account writes anything
    settings = load_settings(demo_copy)
    engineer = identity_for(settings, "ml.engineer@demo.countersign.dev", source="demo")
    demo_copy.catalog_path.unlink()
    demo_copy.catalog_path.write_bytes(b"not a database, and it must stay as it is")
    # and one account fails to extract (its registry folder is gone): not even its failure is written
    (demo_copy.root / "registry" / "staging").rename(demo_copy.root / "registry" / "staging-moved")
    started = time.monotonic()
    with pytest.raises(InputError, match="not a catalog"):
        sync(Context(demo_copy, settings, Catalog(demo_copy.catalog_path), engineer), full=full)
    assert time.monotonic() - started < 20
    assert demo_copy.catalog_path.read_bytes() == b"not a database, and it must stay as it is"


def test_a_full_sync_of_every_account_leaves_a_ledger_that_verifies_with_its_head_on_the_newest_entry(
    demo_copy: Workspace,
) -> None:
    # the accounts' entries commit with their snapshots; the signed head moves over them once, after the last
    from governance import ledger

    settings = load_settings(demo_copy)
    engineer = identity_for(settings, "ml.engineer@demo.countersign.dev", source="demo")
    catalog = Catalog(demo_copy.catalog_path)
    before = ledger.head(catalog)[0]
    report = sync(Context(demo_copy, settings, catalog, engineer), full=True)
    assert report.ok and len(report.results) == len(settings.accounts) >= 2
    entries = [ledger.entry(catalog, seq) for seq in range(before + 1, ledger.head(catalog)[0] + 1)]
    assert sorted(e.subject for e in entries) == sorted(f"account:{a.name}" for a in settings.accounts)
    signed = ledger.read_head(demo_copy.checkpoints_dir)
    assert signed is not None and (signed.seq, signed.hash) == ledger.head(catalog)
    assert ledger.verify_unchecked(demo_copy, catalog).ok


def test_an_account_whose_settings_changed_is_read_in_full_and_its_rows_follow_them(demo_copy: Workspace) -> None:
    # An incremental sync re-reads only what changed at the source, so rows mapped under the old settings would
    # stay as they were (here: versions left in the environment the account no longer has). A settings change
    # makes the account's next successful sync a full pass, even when syncs fail in between.
    settings = load_settings(demo_copy)
    engineer = identity_for(settings, "ml.engineer@demo.countersign.dev", source="demo")
    catalog = Catalog(demo_copy.catalog_path)
    first = sync(Context(demo_copy, settings, catalog, engineer))
    assert first.ok and not next(r for r in first.results if r.account == "lab-dev").full  # incremental already
    dev_versions = catalog.inventory().query("account == 'lab-dev'")["version_id"].tolist()
    assert dev_versions and all(catalog.version(v).environment == "dev" for v in dev_versions)

    config = demo_copy.config_path.read_text(encoding="utf-8")
    moved = config.replace('name = "lab-dev"\nenvironment = "dev"', 'name = "lab-dev"\nenvironment = "staging"', 1)
    assert moved != config
    demo_copy.config_path.write_text(moved, encoding="utf-8")
    settings = load_settings(demo_copy)
    registry = demo_copy.root / "registry" / "dev"
    registry.rename(registry.with_name("dev-away"))  # the first sync under the new settings fails
    failed = next(r for r in sync(Context(demo_copy, settings, catalog, engineer), accounts=["lab-dev"]).results)
    assert failed.status == "failed"
    registry.with_name("dev-away").rename(registry)

    result = next(r for r in sync(Context(demo_copy, settings, catalog, engineer), accounts=["lab-dev"]).results)
    assert result.status == "ok" and result.full, result
    assert result.counts.by_table["versions"]["updated"] == len(dev_versions)
    assert all(catalog.version(v).environment == "staging" for v in dev_versions)
    history = catalog.version_history(dev_versions[0])
    assert history.iloc[-1]["environment"] == "staging" and history.iloc[-2]["environment"] == "dev"
    # the settings hold still: the next sync is incremental again and changes nothing
    again = next(r for r in sync(Context(demo_copy, settings, catalog, engineer), accounts=["lab-dev"]).results)
    assert again.status == "ok" and not again.full and again.counts.updated == 0


def test_an_incremental_sync_says_how_many_versions_the_account_holds(demo_copy: Workspace, capsys) -> None:
    """Issue 35, finding 9: "lab-dev ok … 0 unchanged" for an account holding 10 versions read as if it were empty."""
    from countersign_cli.main import main

    catalog = Catalog(demo_copy.catalog_path)
    held = dict(catalog.query_df("SELECT account, count(*) AS n FROM versions GROUP BY account").values.tolist())
    assert main(["sync", "--workspace", str(demo_copy.root), "--actor", "ml.engineer@demo.countersign.dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for account, n in held.items():
        line = next(ln for ln in lines if ln.startswith(account + " "))
        assert f"{n} version(s) held; this incremental sync: 0 new" in line, line
