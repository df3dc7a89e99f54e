"""governance.sync: what a sync over several accounts promises beyond each account's own write."""

from __future__ import annotations

import time

import pytest

from core.errors import InputError
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
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
        sync(demo_copy, settings, Catalog(demo_copy.catalog_path), actor=engineer, full=full)
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
    report = sync(demo_copy, settings, catalog, actor=engineer, full=True)
    assert report.ok and len(report.results) == len(settings.accounts) >= 2
    entries = [ledger.entry(catalog, seq) for seq in range(before + 1, ledger.head(catalog)[0] + 1)]
    assert sorted(e.subject for e in entries) == sorted(f"account:{a.name}" for a in settings.accounts)
    signed = ledger.read_head(demo_copy.checkpoints_dir)
    assert signed is not None and (signed.seq, signed.hash) == ledger.head(catalog)
    assert ledger.verify_unchecked(demo_copy, catalog).ok
