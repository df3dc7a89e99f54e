"""The catalog file: migrations, idempotent upserts, deletions on full sync, lineage, and one writer at a time."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from connectors.base import DeploymentRecord, Snapshot, SyncIssue, VersionRecord
from core.errors import CatalogBusy, InputError, NotFound
from governance.catalog import Catalog, InventoryFilter, SyncMark
from governance.catalog import connection as catalog_connection
from governance.catalog import migrations as catalog_module
from tests.backends import BOTH

T0 = dt.datetime(2026, 5, 1, 12, 0)


def version(n: int, status: str = "Approved", **kw) -> VersionRecord:
    return VersionRecord(model="m", version=n, source_ref=f"m/{n}", approval_status=status, created_at=T0,
                         created_by="ds@x", metrics={"auc": 0.7 + n / 100}, **kw)


def apply(cat: Catalog, snap: Snapshot, account: str = "acc", env: str = "dev", full: bool = True):
    return cat.apply_snapshot(sync_id=f"s{time.monotonic_ns()}", account=account, environment=env, snapshot=snap,
                              started_at=T0, full=full, actor="test")


@pytest.fixture
def fresh(tmp_path: Path, catalog_url: str | None) -> Catalog:
    """An empty catalog on the test's backend (a file under tmp_path, or a new PostgreSQL database)."""
    return Catalog(tmp_path / "c.duckdb", url=catalog_url)


@BOTH
def test_migrations_from_empty_are_recorded_and_rerun_is_a_no_op(fresh: Catalog) -> None:
    cat = fresh
    assert cat.schema_version() == 0
    assert cat.migrate() == [n for n, _, _ in catalog_module.MIGRATIONS]
    assert cat.migrate() == []
    assert cat.schema_version() == catalog_module.MIGRATIONS[-1][0]
    assert set(cat.counts()) >= {"versions", "evidence", "promotion_requests", "ledger", "sync_runs"}


def test_an_older_catalog_is_upgraded_without_losing_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cat = Catalog(tmp_path / "c.duckdb")
    cat.migrate()
    apply(cat, Snapshot(versions=(version(1),)))
    newer = (*catalog_module.MIGRATIONS, (999, "test: add a column", "ALTER TABLE versions ADD COLUMN note TEXT"))
    monkeypatch.setattr(catalog_module, "MIGRATIONS", newer)
    assert cat.migrate() == [999]
    with cat.connect() as con:
        assert con.execute("SELECT version_id, note FROM versions").fetchall() == [("acc:m:1", None)]
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 999


def test_a_failing_migration_rolls_back_entirely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cat = Catalog(tmp_path / "c.duckdb")
    cat.migrate()
    bad = (*catalog_module.MIGRATIONS, (998, "broken", "ALTER TABLE versions ADD COLUMN x INT; SELECT * FROM nope"))
    monkeypatch.setattr(catalog_module, "MIGRATIONS", bad)
    with pytest.raises(duckdb.CatalogException):
        cat.migrate()
    with cat.connect() as con:
        cols = [r[0] for r in con.execute("DESCRIBE versions").fetchall()]
    assert "x" not in cols
    assert cat.schema_version() < 998


@BOTH
def test_upserts_are_idempotent_and_count_changes(fresh: Catalog) -> None:
    cat = fresh
    cat.migrate()
    snap = Snapshot(versions=(version(1), version(2, "PendingManualApproval")),
                    deployments=(DeploymentRecord(endpoint="ep", variant="v", status="InService", version_ref="m/2"),))
    first = apply(cat, snap)
    assert (first.added, first.updated, first.unchanged) == (3, 0, 0)
    digest = cat.table_digest()
    second = apply(cat, snap)
    assert (second.added, second.updated, second.unchanged, second.deleted) == (0, 0, 3, 0)
    assert cat.table_digest() == digest
    changed = Snapshot(versions=(version(1), version(2, "Approved")), deployments=snap.deployments)
    third = apply(cat, changed)
    assert (third.added, third.updated, third.unchanged) == (0, 1, 2)
    assert cat.version("acc:m:2").approval_status == "Approved"


@BOTH
def test_full_sync_deletes_what_the_source_no_longer_has_incremental_does_not(fresh: Catalog) -> None:
    cat = fresh
    cat.migrate()
    apply(cat, Snapshot(versions=(version(1), version(2))))
    apply(cat, Snapshot(versions=(version(1),), complete=False), full=False)
    assert cat.counts()["versions"] == 2
    res = apply(cat, Snapshot(versions=(version(1),)), full=True)
    assert res.deleted == 1
    with pytest.raises(NotFound):
        cat.version("acc:m:2")


@BOTH
def test_accounts_are_isolated_and_lineage_resolves_across_them(fresh: Catalog) -> None:
    cat = fresh
    cat.migrate()
    apply(cat, Snapshot(versions=(version(1),)), account="dev-acc", env="dev")
    promoted = VersionRecord(model="m", version=1, source_ref="m/1", approval_status="Approved", created_at=T0,
                             source_account="dev-acc", source_version_ref="m/1")
    apply(cat, Snapshot(versions=(promoted,)), account="prod-acc", env="prod")
    # a full sync of one account never deletes another account's rows
    apply(cat, Snapshot(versions=()), account="other", env="dev", full=True)
    assert [v.version_id for v in cat.lineage("prod-acc:m:1")] == ["prod-acc:m:1", "dev-acc:m:1"]
    assert cat.descendants("dev-acc:m:1") == ["prod-acc:m:1"]
    assert len(cat.inventory(InventoryFilter(environments=("prod",)))) == 1


@BOTH
def test_without_provenance_the_same_s3_artifact_registered_earlier_elsewhere_is_the_source(fresh: Catalog) -> None:
    cat = fresh
    cat.migrate()
    uri = "s3://models/credit/model.tar.gz"
    # accounts whose versions have neither provenance nor S3 artifacts first (the sync skips the lineage
    # statements then): a later account's copy must still be resolved
    apply(cat, Snapshot(versions=(version(1, artifact_uri="mlflow-artifacts:/1/x"),)), account="mlflow", env="dev")
    apply(cat, Snapshot(versions=(version(1, artifact_uri=uri),)), account="staging", env="staging")
    later = VersionRecord(model="m", version=4, source_ref="m/4", approval_status="Approved",
                          created_at=T0 + dt.timedelta(days=1), artifact_uri=uri)
    apply(cat, Snapshot(versions=(later,)), account="prod", env="prod")
    assert cat.version("prod:m:4").source_version_id == "staging:m:1"
    assert cat.version("staging:m:1").source_version_id is None  # the earliest registration has no source
    assert cat.version("mlflow:m:1").source_version_id is None
    # the same account resyncing with nothing new keeps it
    apply(cat, Snapshot(versions=(later,)), account="prod", env="prod")
    assert cat.version("prod:m:4").source_version_id == "staging:m:1"


@BOTH
def test_inventory_flags_a_deployment_serving_an_unapproved_version(fresh: Catalog) -> None:
    cat = fresh
    cat.migrate()
    snap = Snapshot(
        versions=(version(1), version(2, "PendingManualApproval")),
        deployments=(DeploymentRecord(endpoint="ep", variant="v", status="InService", version_ref="m/2"),),
    )
    apply(cat, snap, env="prod")
    inv = cat.inventory()
    flagged = inv[inv["unapproved_deployment"]]
    assert flagged["version_id"].tolist() == ["acc:m:2"]
    assert cat.inventory(InventoryFilter(text="no-such-thing")).empty


@BOTH
def test_unknown_ids_raise_not_found_with_a_hint(fresh: Catalog) -> None:
    cat = fresh
    cat.migrate()
    with pytest.raises(NotFound, match="ACCOUNT:MODEL:VERSION"):
        cat.version("nope")
    with pytest.raises(NotFound, match="unknown model 'ghost'"):
        cat.find_version("ghost", 1)


# -- one writer at a time ---------------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    con.execute("SELECT count(*) FROM versions").fetchall()
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)

PORTAL_LIKE = textwrap.dedent(
    """
    import sys, time
    from governance.catalog import Catalog
    cat = Catalog(sys.argv[1])
    end = time.monotonic() + float(sys.argv[2])
    n = 0
    while time.monotonic() < end:
        cat.inventory()          # short-lived connections, as the portal's pages do
        n += 1
    print(n, flush=True)
    """
)


def _start(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})


def test_writer_waits_for_another_process_then_succeeds(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.duckdb", busy_timeout=20)
    cat.migrate()
    holder = _start(HOLDER, str(cat.path), "1.5")
    assert holder.stdout.readline().strip() == "holding"
    started = time.monotonic()
    res = apply(cat, Snapshot(versions=(version(1),)))
    waited = time.monotonic() - started
    holder.wait(10)
    assert res.added == 1
    assert waited > 0.5  # it really had to wait for the other process
    assert cat.version("acc:m:1").version == 1


def test_writer_gives_up_with_catalog_busy_and_writes_nothing(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.duckdb", busy_timeout=0.5)
    cat.migrate()
    holder = _start(HOLDER, str(cat.path), "3")
    assert holder.stdout.readline().strip() == "holding"
    with pytest.raises(CatalogBusy, match="locked by another process"):
        apply(cat, Snapshot(versions=(version(1),)))
    holder.wait(10)
    assert cat.counts()["versions"] == 0


def test_processes_take_turns_through_the_catalog_gate(tmp_path: Path) -> None:
    """While another Countersign process has the file open it holds ``<catalog>.lock``: a writer waits for it (and
    gives up with CatalogBusy after busy_timeout, writing nothing), then goes through once it is released."""
    import fcntl

    cat = Catalog(tmp_path / "c.duckdb", busy_timeout=0.4)
    cat.migrate()
    assert (tmp_path / "c.duckdb.lock").exists()
    other = os.open(tmp_path / "c.duckdb.lock", os.O_RDWR)  # another open file: flock conflicts as across processes
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        with pytest.raises(CatalogBusy, match="in use by another process"):
            apply(cat, Snapshot(versions=(version(1),)))
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
    assert cat.counts()["versions"] == 0
    assert apply(cat, Snapshot(versions=(version(1),))).added == 1


def test_cli_sync_while_the_portal_reads_loses_no_write(demo_copy) -> None:
    portal = _start(PORTAL_LIKE, str(demo_copy.catalog_path), "6")
    # the registry changes while the portal keeps reading: the sync must land all of it
    meta_path = demo_copy.root / "registry" / "dev" / "claims-fraud" / "4" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["approval_status"] = "Approved"
    meta_path.write_text(json.dumps(meta))
    results = []
    for _ in range(3):
        proc = subprocess.run(
            [sys.executable, "-m", "countersign_cli", "sync", "--workspace", str(demo_copy.root), "--json"],
            capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads(proc.stdout))
    reads = int(portal.stdout.readline())
    portal.wait(30)
    assert reads > 10  # the portal kept working during the syncs
    assert all(r["ok"] for r in results)
    cat = Catalog(demo_copy.catalog_path)
    assert cat.version("lab-dev:claims-fraud:4").approval_status == "Approved"
    runs = cat.sync_runs(limit=100)
    assert (runs["status"] == "failed").sum() == 0
    assert len(runs) == 3 + 3 * 3  # the demo build's sync plus three more, all recorded


# -- keeping the file open for a burst of work ---------------------------------------------------------------

READER = textwrap.dedent(
    """
    import sys, time
    from governance.catalog import Catalog
    started = time.monotonic()
    n = Catalog(sys.argv[1], busy_timeout=20).counts()["versions"]
    print(n, round(time.monotonic() - started, 3), flush=True)
    """
)


def test_keep_open_reuses_the_instance_and_releases_the_file_when_idle(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.duckdb", busy_timeout=20)
    cat.migrate()
    with cat.keep_open(linger=0.3):
        apply(cat, Snapshot(versions=(version(1),)))
        kept = cat.kept_cache()
        assert kept is not None  # the file is held between operations…
        for _ in range(10):  # well inside the 2 s after which a busy holder lets go for a moment
            cat.counts()
            # …attached all along, so an operation does not pay to attach it again (timings: benchmarks/sync.py)
            assert cat.kept_cache() is kept
        # another process asking for the file gets it once this one has been idle for the linger
        reader = _start(READER, str(cat.path))
        out = reader.stdout.readline().split()
        reader.wait(10)
        assert out[0] == "1"
        assert cat.kept_cache() is None  # released while the scope is still active
        apply(cat, Snapshot(versions=(version(1), version(2))))  # and taken again for the next operation
        assert cat.kept_cache() is not None
    assert cat.kept_cache() is None  # leaving the scope releases it at once
    reader = _start(READER, str(cat.path))
    count, waited = reader.stdout.readline().split()
    reader.wait(10)
    assert count == "2" and float(waited) < 5


def test_keep_open_needs_a_positive_linger(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="positive linger"), Catalog(tmp_path / "c.duckdb").keep_open(0):
        pass


def test_a_model_described_differently_by_accounts_takes_the_furthest_environments_word(tmp_path: Path) -> None:
    from connectors.base import ModelRecord

    order = ("dev", "staging", "prod")
    said = {
        "dev": ModelRecord("m", description="experimental churn model", owner="ds-team",
                           tags={"team": "ds", "stage": "dev"}),
        "staging": ModelRecord("m", description="churn model, validated", risk_tier="high",
                               tags={"stage": "staging"}),
        "prod": ModelRecord("m", description="Churn model (production)", tags={"stage": "prod", "cost": "cc-9"}),
    }

    def build(path: Path, accounts: list[str]) -> tuple:
        cat = Catalog(path)
        cat.migrate()
        for env in accounts:
            cat.apply_snapshot(sync_id=f"s-{env}", account=f"acc-{env}", environment=env,
                               snapshot=Snapshot(models=(said[env],), versions=(version(1),)), started_at=T0,
                               full=True, actor="test", environment_order=order)
        return cat, cat.query_df("SELECT description, owner, risk_tier, tags FROM models").to_dict("records")

    cat, forward = build(tmp_path / "a.duckdb", ["dev", "staging", "prod"])
    _, backward = build(tmp_path / "b.duckdb", ["prod", "staging", "dev"])
    assert forward == backward  # the order the accounts synced in does not matter
    row = forward[0]
    assert row["description"] == "Churn model (production)"
    assert row["owner"] == "ds-team" and row["risk_tier"] == "high"  # fields prod does not state come from others
    assert json.loads(row["tags"]) == {"team": "ds", "stage": "prod", "cost": "cc-9"}
    # an incremental snapshot that did not re-read the group keeps what prod said
    cat.apply_snapshot(sync_id="s-inc", account="acc-prod", environment="prod",
                       snapshot=Snapshot(models=(ModelRecord("m", risk_tier="critical"),), complete=False),
                       started_at=T0, full=False, actor="test", environment_order=order)
    again = cat.query_df("SELECT description, risk_tier FROM models").iloc[0]
    assert (again.description, again.risk_tier) == ("Churn model (production)", "critical")
    # prod's group is gone on a complete full pass: staging's word is next
    cat.apply_snapshot(sync_id="s-full", account="acc-prod", environment="prod", snapshot=Snapshot(),
                       started_at=T0, full=True, actor="test", environment_order=order)
    last = cat.query_df("SELECT description, risk_tier, tags FROM models").iloc[0]
    assert (last.description, last.risk_tier) == ("churn model, validated", "high")
    assert json.loads(last.tags) == {"team": "ds", "stage": "staging"}


def test_upgrading_to_model_sources_keeps_what_prod_said_until_prod_says_it_again(tmp_path: Path) -> None:
    from connectors.base import ModelRecord

    order = ("dev", "staging", "prod")
    cat = Catalog(tmp_path / "c.duckdb")
    cat.migrate()

    def sync(account: str, env: str, model: ModelRecord, *, full: bool, watermark: str | None = None) -> None:
        cat.apply_snapshot(sync_id=f"{account}-{time.monotonic_ns()}", account=account, environment=env,
                           snapshot=Snapshot(models=(model,), versions=(version(1),), complete=full,
                                             watermark=watermark),
                           started_at=T0, full=full, actor="test", environment_order=order)

    sync("acc-prod", "prod", ModelRecord("m", description="prod description", owner="risk-team", risk_tier="high"),
         full=True, watermark="w-prod")
    # the catalog as the release before model_sources left it: the models row, no per-account statements
    with cat.transaction() as con:
        con.execute("DROP TABLE model_sources")
        con.execute("DELETE FROM schema_migrations WHERE version = 2")
    assert cat.migrate() == [2]
    assert cat.sync_mark("acc-prod").watermark is None  # every account's next sync is a full pass
    # a dev account's sync states something else: prod's word (from before the upgrade) still wins
    sync("acc-dev", "dev", ModelRecord("m", description="dev scratch notes", risk_tier="low"), full=False)
    row = cat.query_df("SELECT description, owner, risk_tier FROM models").iloc[0]
    assert (row.description, row.owner, row.risk_tier) == ("prod description", "risk-team", "high")
    # prod's own full pass replaces the old statement: a field prod no longer states falls to dev's
    sync("acc-prod", "prod", ModelRecord("m", description="prod, restated", risk_tier="high"), full=True)
    row = cat.query_df("SELECT description, owner, risk_tier FROM models").iloc[0]
    assert (row.description, row.owner, row.risk_tier) == ("prod, restated", None, "high")
    assert cat.query_df("SELECT count(*) AS n FROM model_sources WHERE account = ''").n[0] == 0


def test_a_busy_process_still_lets_go_of_the_file_now_and_then(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_connection._Keeper, "MAX_HOLD", 0.3)
    cat = Catalog(tmp_path / "c.duckdb")
    cat.migrate()
    released, held = 0, 0
    with cat.keep_open(linger=5):  # a linger longer than the whole loop: only the fairness rule lets go
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            cat.counts()
            if cat.kept_cache() is None:
                released += 1
            else:
                held += 1
    assert held > released > 0


@BOTH
def test_registry_labels_place_a_version_and_a_label_move_updates_its_row(fresh: Catalog) -> None:
    cat = fresh
    cat.migrate()
    apply(cat, Snapshot(versions=(version(1, labels=("challenger",), environment="staging"), version(2))))
    first = cat.version("acc:m:1")
    assert (first.environment, first.labels) == ("staging", ("challenger",))
    assert (cat.version("acc:m:2").environment, cat.version("acc:m:2").labels) == ("dev", ())  # the account's
    # the alias moves: only the record hash tells the sync, and the row follows
    moved = apply(cat, Snapshot(versions=(version(1, labels=("champion", "challenger"), environment="prod"),
                                          version(2))))
    assert moved.by_table["versions"] == {"added": 0, "updated": 1, "unchanged": 1, "deleted": 0}
    after = cat.version("acc:m:1")
    assert (after.environment, after.labels) == ("prod", ("challenger", "champion"))
    inv = cat.inventory(environment_order=("dev", "staging", "prod")).set_index("version_id")
    assert inv.loc["acc:m:1", "labels"] == ["challenger", "champion"] and inv.loc["acc:m:2", "labels"] == []
    assert cat.find_version("m", 1, "prod").version_id == "acc:m:1"


def _plain(value):
    """A frame cell as the row reader gives it: None for missing, datetime for timestamps, Python scalars."""
    import pandas as pd

    if isinstance(value, list):
        return value
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


@pytest.mark.parametrize("flt", [InventoryFilter(), InventoryFilter(environments=("prod",)),
                                 InventoryFilter(text="fraud"), InventoryFilter(statuses=("Approved",))],
                         ids=["all", "prod", "text", "approved"])
def test_inventory_rows_are_the_inventory_frame_without_pandas(demo_workspace, flt: InventoryFilter) -> None:
    cat = Catalog(demo_workspace.catalog_path)
    order = ("dev", "staging", "prod")
    frame = cat.inventory(flt, environment_order=order)
    rows = cat.inventory_rows(flt, environment_order=order)
    assert rows, "the demo has versions for every filter used here"
    assert [list(r) for r in rows] == [list(frame.columns)] * len(rows)
    assert rows == [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
    models = cat.models()
    assert cat.models_rows() == [{k: _plain(v) for k, v in r.items()} for r in models.to_dict("records")]


def test_flush_writes_the_log_into_the_file_while_it_is_kept_open(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.duckdb")
    cat.migrate()
    wal = tmp_path / "c.duckdb.wal"
    with cat.keep_open(linger=5):
        apply(cat, Snapshot(versions=tuple(version(n) for n in range(1, 51))))
        assert wal.exists() and wal.stat().st_size > 0  # committed, in the log only while the file stays open
        assert cat.flush()
        assert not wal.exists() or wal.stat().st_size == 0
        # a copy of the file alone (what a backup of catalog.duckdb takes) now holds every committed row
        copy = tmp_path / "copy.duckdb"
        copy.write_bytes((tmp_path / "c.duckdb").read_bytes())
        with duckdb.connect(str(copy), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM versions").fetchone()[0] == 50
        assert len(cat.inventory()) == 50


def test_flush_beside_a_running_write_transaction_loses_nothing(tmp_path: Path) -> None:
    import threading

    cat = Catalog(tmp_path / "c.duckdb")
    cat.migrate()
    in_transaction, flushed = threading.Event(), threading.Event()

    def writer() -> None:  # another account's write, mid-transaction while the flush runs
        with cat.transaction() as con:
            con.execute("UPDATE versions SET created_by = 'changed before the flush'")
            in_transaction.set()
            flushed.wait(10)
            con.execute("UPDATE versions SET created_by = 'changed after the flush'")

    with cat.keep_open(linger=5):
        apply(cat, Snapshot(versions=(version(1),)))
        thread = threading.Thread(target=writer)
        thread.start()
        assert in_transaction.wait(10)
        start = time.monotonic()
        cat.flush()  # DuckDB may decline beside an UPDATE; either way it does not queue behind the writer
        assert time.monotonic() - start < 5
        flushed.set()
        thread.join()
    with duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True) as con:
        assert con.execute("SELECT created_by FROM versions").fetchall() == [("changed after the flush",)]


def test_catalogs_attached_side_by_side_in_one_process_see_only_their_own_tables(tmp_path: Path) -> None:
    # every catalog file of a process is attached to one DuckDB instance: nothing may leak from one to another
    first, second = Catalog(tmp_path / "a.duckdb"), Catalog(tmp_path / "b.duckdb")
    first.migrate()
    with first.keep_open(linger=5):
        apply(first, Snapshot(versions=(version(1), version(2))))
        assert second.schema_version() == 0  # a new file, although the first one's migrations table is attached
        second.migrate()
        assert second.schema_version() == first.schema_version() > 0
        apply(second, Snapshot(versions=(version(3),)), account="other")
        assert sorted(first.inventory()["version"]) == [1, 2]
        assert list(second.inventory()["version"]) == [3]
    with duckdb.connect(str(tmp_path / "b.duckdb"), read_only=True) as con:  # released, and written to its own file
        assert con.execute("SELECT account, version FROM versions").fetchall() == [("other", 3)]


def test_a_file_that_is_not_a_catalog_is_named_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "catalog.duckdb"
    path.write_bytes(b"minutes of the model risk committee, 3 December\n" * 200)
    before = path.read_bytes()
    for _ in range(2):  # and the failed attempt holds nothing: the second one fails the same way at once
        start = time.monotonic()
        with pytest.raises(InputError, match=r"catalog\.duckdb: not a catalog .*move this file away"):
            Catalog(path, busy_timeout=20).inventory()
        assert time.monotonic() - start < 5
    assert path.read_bytes() == before
    good = Catalog(tmp_path / "good.duckdb")
    good.migrate()  # the process's other catalogs are unaffected
    assert good.counts()["versions"] == 0



@BOTH
def test_a_sync_resumes_from_the_newest_successful_run_of_its_own_account(fresh: Catalog) -> None:
    from types import SimpleNamespace

    fresh.migrate()
    t = dt.datetime(2026, 5, 1)

    def run(account: str, sync_id: str, mark: str, *, full: bool, hours: int, issues: bool = False) -> None:
        snap = Snapshot(versions=(version(1),), watermark=mark,
                        issues=((SyncIssue("m/9", "unreadable"),) if issues else ()))
        fresh.apply_snapshot(sync_id=sync_id, account=account, environment="dev", snapshot=snap,
                             started_at=t + dt.timedelta(hours=hours), full=full, actor="test")

    run("a", "a-1", "a-first", full=True, hours=0)
    run("b", "b-1", "b-first" * 500, full=True, hours=1)  # watermarks can be kilobytes
    run("a", "a-2", "a-second", full=False, hours=2)
    run("a", "a-3", "a-partial", full=False, hours=3, issues=True)  # partial still moves the watermark
    fresh.record_sync_failure(sync_id="a-4", account="a", started_at=t + dt.timedelta(hours=4), error="boom",
                              full=True, actor="test")  # a failed run does not
    run("b", "b-2", "b-second", full=True, hours=5)

    assert fresh.sync_mark("a") == SyncMark("a-partial", t)  # the last full pass that succeeded started at t
    assert fresh.sync_mark("b") == SyncMark("b-second", t + dt.timedelta(hours=5))
    assert fresh.sync_mark("nobody") == SyncMark(None, None)
    accounts = [SimpleNamespace(name=n, environment="dev", connector="jsonfile", location=f"/tmp/{n}",
                                as_record=lambda n=n: {"name": n})
                for n in ("a", "b", "c")]
    assert fresh.upsert_accounts(accounts) == {"a": fresh.sync_mark("a"), "b": fresh.sync_mark("b")}


# -- artifact digests ---------------------------------------------------------------------------------------

A, B = "a" * 64, "b" * 64


def digested(sha: str | None, at: dt.datetime | None, problem: str | None = None) -> VersionRecord:
    return version(1, artifact_uri="s3://b/m/1/model.tar.gz", artifact_sha256=sha,
                   artifact_digest_source="countersign" if sha else None, artifact_digest_at=at,
                   artifact_digest_problem=problem)


def apply_at(cat: Catalog, started: dt.datetime, *records: VersionRecord):
    return cat.apply_snapshot(sync_id=f"s{started:%H%M}", account="acc", environment="dev",
                              snapshot=Snapshot(versions=records), started_at=started, full=True, actor="test")


@BOTH
def test_a_digest_is_stored_with_where_and_when_and_a_changed_digest_is_history(fresh: Catalog) -> None:
    cat = fresh
    cat.migrate()
    read = T0 - dt.timedelta(minutes=5)
    apply_at(cat, T0, digested(A, read))
    v = cat.version("acc:m:1")
    assert (v.artifact_sha256, v.artifact_digest_source, v.artifact_digest_at, v.artifact_digest_problem) == (
        A, "countersign", read, None)
    again = apply_at(cat, T0 + dt.timedelta(hours=1), digested(A, read))
    assert (again.updated, again.unchanged) == (0, 1)
    # the bytes were replaced under an unchanged registry record; then they could not be read at all
    apply_at(cat, T0 + dt.timedelta(hours=2), digested(B, T0 + dt.timedelta(hours=2)))
    apply_at(cat, T0 + dt.timedelta(hours=3), digested(None, None, "s3://b/m/1/model.tar.gz: 404: Not Found"))
    assert cat.version("acc:m:1").artifact_digest_problem == "s3://b/m/1/model.tar.gz: 404: Not Found"
    with cat.connect() as con:
        rows = con.execute("SELECT artifact_sha256, artifact_digest_source, artifact_digest_problem, valid_from, "
                           "valid_to, time_source FROM version_history WHERE version_id = 'acc:m:1' "
                           "ORDER BY valid_from, history_id").fetchall()
    assert [(sha, source, problem) for sha, source, problem, *_ in rows] == [
        (A, "countersign", None), (B, "countersign", None), (None, None, "s3://b/m/1/model.tar.gz: 404: Not Found")]
    # each change seen by the sync that read it: the registry dates none of them
    assert [r[3] for r in rows[1:]] == [T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=3)]
    assert [r[4] for r in rows] == [T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=3), None]
    assert [r[5] for r in rows[1:]] == ["sync", "sync"]


@BOTH
def test_migration_6_upgrades_a_catalog_without_opening_history_rows(
    tmp_path: Path, catalog_url: str | None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a folder version synced before migration 6: its digest in versions, none in its open history row
    synced = Catalog(tmp_path / "synced.duckdb")
    synced.migrate()
    apply_at(synced, T0, version(1, artifact_uri="folder://acc/m/1/model.skops", artifact_sha256=A))
    old = Catalog(tmp_path / "old.duckdb", url=catalog_url)
    monkeypatch.setattr(catalog_module, "MIGRATIONS", catalog_module.MIGRATIONS[:5])
    assert old.migrate() == [1, 2, 3, 4, 5]
    with synced.connect() as src, old.transaction() as dst:
        for table in ("versions", "version_history", "sync_runs"):
            have = [d[0] for d in dst.execute(f"SELECT * FROM {table} LIMIT 0").description]
            for row in src.execute(f"SELECT {', '.join(have)} FROM {table}").fetchall():
                dst.execute(f"INSERT INTO {table} ({', '.join(have)}) VALUES ({', '.join('?' * len(have))})",
                            list(row))
    monkeypatch.undo()
    old.forget_columns()
    assert old.migrate()[0] == 6  # and the migrations after it
    with old.connect() as con:
        assert con.execute("SELECT artifact_sha256 FROM version_history WHERE valid_to IS NULL").fetchall() == [(A,)]
        assert con.execute("SELECT count(*) FROM sync_runs WHERE watermark IS NOT NULL").fetchone()[0] == 0
    # the next sync reads the same bytes, now with where and when: the row is rewritten, the history is not
    apply_at(old, T0 + dt.timedelta(hours=1), version(1, artifact_uri="folder://acc/m/1/model.skops",
                                                      artifact_sha256=A, artifact_digest_source="countersign",
                                                      artifact_digest_at=T0))
    assert old.version("acc:m:1").artifact_digest_source == "countersign"
    assert len(old.version_history("acc:m:1")) == 1
