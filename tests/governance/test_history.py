"""Registry history: scripted registry changes across syncs, with the expected as-of answer at each instant."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from core.errors import InputError
from countersign_cli.main import main
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.history import environment_at, inventory_as_of, parse_instant, version_history
from governance.identity import Identity
from governance.sync import sync
from tests.backends import BOTH, use_catalog_url

ADMIN = Identity("admin@x", frozenset({"admin"}))


def write_version(reg: Path, model: str, n: int, **meta) -> None:
    vdir = reg / model / str(n)
    vdir.mkdir(parents=True, exist_ok=True)
    (vdir / "model.skops").write_bytes(b"not really a model " + str(n).encode())
    body = {"approval_status": "PendingManualApproval", "created_at": "2026-03-01T10:00:00Z", "created_by": "ds@x",
            **meta}
    (vdir / "metadata.json").write_text(json.dumps(body))


def deploy(reg: Path, *entries: dict) -> None:
    (reg / "deployments.json").write_text(json.dumps(list(entries)))


@pytest.fixture
def world(tmp_path: Path, catalog_url: str | None):
    root = tmp_path / "ws"
    reg = root / "reg"
    reg.mkdir(parents=True)
    (root / "countersign.toml").write_text(
        '[[accounts]]\nname = "lab"\nenvironment = "prod"\nconnector = "folder"\npath = "reg"\n'
        "full_sync_every_hours = 0\n"
    )
    ws = Workspace(root)
    use_catalog_url(ws, catalog_url)
    settings = load_settings(ws, {})
    cat = Catalog(ws.catalog_path, url=settings.catalog.url)
    cat.migrate()

    def run(full: bool = True):
        report = sync(Context(ws, settings, cat, ADMIN), full=full)
        return report.results[0]

    return ws, reg, cat, run


def at(text: str) -> dt.datetime:
    return parse_instant(text)


def state(cat: Catalog, instant: str) -> dict[str, tuple[str, str | None]]:
    """version id → (approval status, deployed on) as of ``instant``."""
    df = inventory_as_of(cat, at(instant), ("dev", "staging", "prod"))
    return {r.version_id: (r.approval_status, r.deployed_on if isinstance(r.deployed_on, str) else None)
            for r in df.itertuples(index=False)}


@BOTH
def test_scripted_changes_answer_as_of_each_instant(world) -> None:
    _ws, reg, cat, run = world
    # 1 March: v1 registered, pending
    write_version(reg, "fraud", 1, modified_at="2026-03-01T10:00:00Z")
    assert run().status == "ok"
    # 5 March: v1 approved; 6 March: it goes live on ep-a
    write_version(reg, "fraud", 1, approval_status="Approved", modified_at="2026-03-05T10:00:00Z")
    deploy(reg, {"endpoint": "ep-a", "model": "fraud", "version": 1, "updated_at": "2026-03-06T00:00:00Z"})
    assert run().status == "ok"
    # 10 March: v2 approved (same instant as its creation); 12 March: ep-a switches to v2
    write_version(reg, "fraud", 2, approval_status="Approved", created_at="2026-03-10T12:00:00Z",
                  modified_at="2026-03-10T12:00:00Z")
    deploy(reg, {"endpoint": "ep-a", "model": "fraud", "version": 2, "updated_at": "2026-03-12T00:00:00Z"})
    assert run().status == "ok"

    assert state(cat, "2026-02-28") == {}
    assert state(cat, "2026-03-02") == {"lab:fraud:1": ("PendingManualApproval", None)}
    assert state(cat, "2026-03-05T09:59:59") == {"lab:fraud:1": ("PendingManualApproval", None)}
    # the boundary instant belongs to the new state (intervals are half-open)
    assert state(cat, "2026-03-05T10:00:00") == {"lab:fraud:1": ("Approved", None)}
    assert state(cat, "2026-03-07") == {"lab:fraud:1": ("Approved", "ep-a")}
    assert state(cat, "2026-03-11") == {"lab:fraud:1": ("Approved", "ep-a"), "lab:fraud:2": ("Approved", None)}
    # time zones: 02:00 at +02:00 is midnight UTC, the switch to v2
    assert state(cat, "2026-03-12T01:59:59+02:00") == {"lab:fraud:1": ("Approved", "ep-a"),
                                                       "lab:fraud:2": ("Approved", None)}
    assert state(cat, "2026-03-12T02:00:00+02:00") == {"lab:fraud:1": ("Approved", None),
                                                       "lab:fraud:2": ("Approved", "ep-a")}
    assert state(cat, "2026-03-12T00:00:00Z") == state(cat, "2026-03-12T02:00:00+02:00")

    hist = version_history(cat, "lab:fraud:1")
    assert [(s["approval_status"], s["time_source"]) for s in hist["states"]] == [
        ("PendingManualApproval", "source"), ("Approved", "source")]
    assert hist["states"][0]["valid_to"] == "2026-03-05T10:00:00"
    # each state is tied to the sync that saw it and to that sync's ledger entry
    entries = cat.sync_ledger_entries([s["sync_id"] for s in hist["states"]])
    assert list(entries["seq"]) == [s["ledger_seq"] for s in hist["states"]]
    assert [d["valid_from"] for d in hist["deployments"]] == ["2026-03-06T00:00:00"]
    assert hist["deployments"][0]["valid_to"] == "2026-03-12T00:00:00"


@BOTH
def test_a_version_deleted_at_the_source_keeps_its_past(world) -> None:
    _ws, reg, cat, run = world
    write_version(reg, "fraud", 1, approval_status="Approved", modified_at="2026-03-01T10:00:00Z")
    write_version(reg, "fraud", 2, modified_at="2026-03-02T10:00:00Z")
    run()
    shutil.rmtree(reg / "fraud" / "1")
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert run().counts.deleted == 1
    with pytest.raises(Exception, match="unknown version"):
        cat.version("lab:fraud:1")
    assert set(state(cat, "2026-03-03")) == {"lab:fraud:1", "lab:fraud:2"}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
    assert set(state(cat, now)) == {"lab:fraud:2"}
    (last,) = version_history(cat, "lab:fraud:1")["states"]
    assert last["valid_to"] is not None and dt.datetime.fromisoformat(last["valid_to"]) >= before.replace(microsecond=0)


@BOTH
def test_a_failed_sync_in_the_middle_is_a_gap(world) -> None:
    _ws, reg, cat, run = world
    write_version(reg, "fraud", 1, approval_status="Approved", modified_at="2026-03-01T10:00:00Z")
    first = run()
    reg.rename(reg.with_name("away"))
    failed = run()
    assert failed.status == "failed"
    reg.with_name("away").rename(reg)
    write_version(reg, "fraud", 1, approval_status="Rejected")  # no modified_at: the sync's time is used
    third = run()
    gaps = cat.history_gaps(["lab"])
    assert list(gaps["reason"]) == ["failed sync"] and gaps["sync_id"][0] == failed.sync_id
    runs = cat.sync_runs("lab").set_index("sync_id")
    assert gaps["gap_from"][0] == runs.loc[first.sync_id, "started_at"]
    assert gaps["gap_to"][0] == runs.loc[third.sync_id, "started_at"]
    inside = (runs.loc[failed.sync_id, "started_at"]).isoformat()
    df = inventory_as_of(cat, at(inside))
    assert bool(df["in_gap"].iloc[0]) and df["gap_reason"].iloc[0] == "failed sync"
    assert df["approval_status"].iloc[0] == "Approved"  # the last state seen, flagged as not observed then
    hist = version_history(cat, "lab:fraud:1")
    assert [(s["approval_status"], s["time_source"]) for s in hist["states"]] == [
        ("Approved", "source"), ("Rejected", "sync")]
    assert hist["states"][1]["valid_from"] == runs.loc[third.sync_id, "started_at"].isoformat()
    after = inventory_as_of(cat, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    assert not bool(after["in_gap"].iloc[0])


@BOTH
def test_a_long_pause_is_a_gap(world) -> None:
    ws, reg, cat, run = world
    write_version(reg, "fraud", 1, modified_at="2026-03-01T10:00:00Z")
    run()
    ws.config_path.write_text(ws.config_path.read_text().replace("full_sync_every_hours = 0",
                                                                 "full_sync_every_hours = 0.0001"))
    settings = load_settings(ws, {})
    import time

    time.sleep(0.5)
    sync(Context(ws, settings, cat, ADMIN), full=True)
    gaps = cat.history_gaps(["lab"])
    assert list(gaps["reason"]) == ["pause"] and "no successful sync for" in gaps["detail"][0]


@BOTH
def test_equal_timestamps_and_undated_changes(world) -> None:
    _ws, reg, cat, run = world
    same = "2026-03-01T10:00:00Z"
    write_version(reg, "fraud", 1, approval_status="Approved", created_at=same, modified_at=same)
    write_version(reg, "fraud", 2, approval_status="Approved", created_at=same, modified_at=same)
    deploy(reg, {"endpoint": "ep", "model": "fraud", "version": 2, "updated_at": same})
    run()
    # everything that happened at the same instant is visible at that instant, nothing before it
    assert state(cat, same) == {"lab:fraud:1": ("Approved", None), "lab:fraud:2": ("Approved", "ep")}
    assert state(cat, "2026-03-01T09:59:59.999999") == {}
    # a change whose source time did not move (the card changed, the version's modified_at did not) takes the
    # sync's time and says so; the state before it stays answerable
    (reg / "fraud" / "card.json").write_text(json.dumps({"status": "approved", "content": {"intended_use": "x"}}))
    run()
    states = version_history(cat, "lab:fraud:2")["states"]
    assert [s["time_source"] for s in states] == ["source", "sync"]
    assert states[0]["card"] is None and states[1]["card"]["content"] == {"intended_use": "x"}
    assert state(cat, "2026-03-02")["lab:fraud:2"] == ("Approved", "ep")


def test_parse_instant() -> None:
    assert parse_instant("2026-03-14") == dt.datetime(2026, 3, 14)
    assert parse_instant("2026-03-14T09:30:00+02:00") == dt.datetime(2026, 3, 14, 7, 30)
    assert parse_instant("2026-03-14T09:30:00Z") == dt.datetime(2026, 3, 14, 9, 30)
    with pytest.raises(InputError, match="not an ISO 8601"):
        parse_instant("14 March")


@BOTH
def test_cli_models_as_of_and_history(world, capsys) -> None:
    ws, reg, _cat, run = world
    write_version(reg, "fraud", 1, modified_at="2026-03-01T10:00:00Z")
    run()
    write_version(reg, "fraud", 1, approval_status="Approved", modified_at="2026-03-05T10:00:00Z")
    run()
    capsys.readouterr()
    assert main(["models", "--workspace", str(ws.root), "--as-of", "2026-03-03T00:00:00+02:00", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["as_of"] == "2026-03-02T22:00:00"
    assert [(v["version_id"], v["approval_status"]) for v in doc["versions"]] == [
        ("lab:fraud:1", "PendingManualApproval")]
    assert main(["models", "--workspace", str(ws.root), "--as-of", "2026-03-06"]) == 0
    out = capsys.readouterr().out
    assert "as of 2026-03-06T00:00:00 UTC" in out and "Approved" in out
    assert main(["models", "--workspace", str(ws.root), "--as-of", "yesterday"]) == 2
    assert main(["history", "lab:fraud:1", "--workspace", str(ws.root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["approval_status"] for s in doc["states"]] == ["PendingManualApproval", "Approved"]
    assert main(["history", "lab:fraud:1", "--workspace", str(ws.root), "--environment", "prod",
                 "--as-of", "2026-03-04", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(v["version_id"], v["approval_status"]) for v in doc["versions"]] == [
        ("lab:fraud:1", "PendingManualApproval")]


def test_environment_at_names_the_approver_and_the_gates_from_the_decision(demo_copy: Workspace) -> None:
    # the demo workspace holds executed promotions with their decisions; a re-sync records the history
    settings = load_settings(demo_copy)
    cat = Catalog(demo_copy.catalog_path)
    cat.migrate()
    sync(Context(demo_copy, settings, cat, ADMIN), full=True)
    executed = cat.query_df("SELECT request_id, target_version_id, to_env FROM promotion_requests "
                            "WHERE status = 'executed' AND target_version_id IS NOT NULL ORDER BY request_id")
    assert not executed.empty
    row = executed.iloc[0]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    st = environment_at(settings, cat, row["to_env"], now)
    (served,) = [v for v in st.versions if v.version_id == row["target_version_id"]]
    approvals = [a for a in served.approvals if a.request_id == row["request_id"]]
    decisions = cat.query_df("SELECT actor, payload FROM decisions WHERE request_id = ? AND kind = 'approve' "
                             "ORDER BY created_at", [row["request_id"]])
    assert [a.actor for a in approvals] == list(decisions["actor"])
    gates = {r["gate"]: r["status"] for r in json.loads(decisions["payload"][0])["checklist"]["results"]}
    assert approvals[0].gates == gates and gates


def test_a_change_caused_by_a_countersign_execution_names_its_request(demo_copy: Workspace) -> None:
    from governance.execution import execute
    from tests.governance.test_promotion import World

    w = World(demo_copy)
    rid = w.request()
    w.approve(rid)
    r = execute(Context(w.ws, w.settings, w.catalog, w.who("ml.engineer")), rid)
    assert r.status == "executed", r.execution_error
    (state,) = version_history(w.catalog, r.target_version_id)["states"]
    assert state["request_id"] == rid and state["environment"] == "prod"
    entry = w.catalog.sync_ledger_entries([state["sync_id"]])
    assert json.loads(entry["payload"][0])["request_id"] == rid and entry["seq"][0] == state["ledger_seq"]
    # the approver, and the gates the approval saw, answer for prod at the instant after the execution
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    (served,) = [v for v in environment_at(w.settings, w.catalog, "prod", now).versions if v.version_id == r.target_version_id]
    assert [a.actor for a in served.approvals if a.request_id == rid] == ["risk.officer@demo.countersign.dev"]


def test_labels_and_environment_moves_from_the_records_are_history(tmp_path: Path) -> None:
    # an MLflow alias / ZenML stage moving between versions: the records carry labels and the environment they mean
    from connectors.base import Snapshot, VersionRecord

    cat = Catalog(tmp_path / "c.duckdb")
    cat.migrate()
    made = dt.datetime(2026, 3, 1, 10)

    def apply(sync_id: str, started: dt.datetime, *records: VersionRecord) -> None:
        cat.apply_snapshot(sync_id=sync_id, account="reg", environment="dev", snapshot=Snapshot(versions=records),
                           started_at=started, full=True, actor="t")

    def rec(n: int, labels: tuple[str, ...], env: str | None) -> VersionRecord:
        return VersionRecord(model="m", version=n, source_ref=f"m/{n}", approval_status="Approved", created_at=made,
                             modified_at=made, labels=labels, environment=env)

    apply("s1", dt.datetime(2026, 3, 2), rec(1, ("champion",), "prod"), rec(2, (), None))
    apply("s2", dt.datetime(2026, 3, 5), rec(1, (), None), rec(2, ("champion",), "prod"))
    before = cat.as_of(dt.datetime(2026, 3, 4))
    after = cat.as_of(dt.datetime(2026, 3, 5))
    # the labels as the lists they are (stored as JSON text, once listed as its characters)
    assert {(r.version_id, r.environment, tuple(r.labels)) for r in before.itertuples()} == {
        ("reg:m:1", "prod", ("champion",)), ("reg:m:2", "dev", ())}
    assert {(r.version_id, r.environment, tuple(r.labels)) for r in after.itertuples()} == {
        ("reg:m:1", "dev", ()), ("reg:m:2", "prod", ("champion",))}
    # the source's modification time did not move with the alias: the sync's time is used, and said
    assert set(cat.version_history("reg:m:2")["time_source"]) == {"source", "sync"}
