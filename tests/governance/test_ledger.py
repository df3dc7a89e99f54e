"""The ledger: one write path, a hash chain any tampering breaks, signed checkpoints that catch rollbacks.

The oracle for the hash is written here from the documented format (fields joined by newlines, payload last),
independently of ``governance.ledger.entry_hash``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from core.errors import AccessDenied, InputError, LedgerTampered
from countersign_cli.main import main
from governance import ledger
from governance.catalog import Catalog
from governance.config import Workspace
from governance.context import Context
from governance.identity import Identity, os_user
from governance.ledger import commit, signed_head
from tests.backends import BOTH, use_catalog_url

AUDITOR = Identity("auditor@example.org", frozenset({"auditor"}))
VIEWER = Identity("viewer@example.org", frozenset({"viewer"}))
CONFIG = '[roles]\n"auditor@example.org" = ["auditor"]\n"viewer@example.org" = ["viewer"]\n'
ME = f"os:{os_user()}"  # the command line acts as the operating-system user running the tests
OS_AUDITOR = f'"{ME}" = ["auditor"]\n'


def oracle_hash(seq: int, at: dt.datetime, actor: str, action: str, subject: str, prev: str, payload: str) -> str:
    text = f"{seq}\n{at:%Y-%m-%dT%H:%M:%S.%f}\n{actor}\n{action}\n{subject}\n{prev}\n{payload}"
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture()
def ws(tmp_path: Path, catalog_url: str | None) -> Workspace:
    w = Workspace(tmp_path / "ws")
    w.ensure_dirs()
    w.config_path.write_text(CONFIG + OS_AUDITOR, encoding="utf-8")
    use_catalog_url(w, catalog_url)
    Catalog(w.catalog_path, url=catalog_url).migrate()
    return w


@pytest.fixture()
def catalog(ws: Workspace, catalog_url: str | None) -> Catalog:
    return Catalog(ws.catalog_path, url=catalog_url)


def fill(catalog: Catalog, n: int, start: int = 0) -> list[ledger.Entry]:
    out = []
    for i in range(start, start + n):
        out.append(ledger.append(catalog, actor=f"user{i % 3}@example.org", action="test.event",
                                 subject=f"thing:{i}", payload={"i": i, "text": "déjà vu\nline two"}))
    return out


def rows(catalog: Catalog) -> list[tuple]:
    with catalog.connect() as con:
        return con.execute("SELECT seq, recorded_at, actor, action, subject, payload, prev_hash, hash FROM ledger "
                           "ORDER BY seq").fetchall()


def cli_verify(ws: Workspace, *extra: str) -> int:
    return main(["ledger", "verify", "--workspace", str(ws.root), *extra])


@BOTH
def test_append_builds_a_chain_the_oracle_agrees_with(catalog: Catalog) -> None:
    entries = fill(catalog, 5)
    stored = rows(catalog)
    assert [r[0] for r in stored] == [1, 2, 3, 4, 5]
    prev = "0" * 64
    for (seq, at, actor, action, subject, payload, prev_hash, digest), entry in zip(stored, entries, strict=True):
        assert prev_hash == prev
        assert digest == oracle_hash(seq, at, actor, action, subject, prev_hash, payload) == entry.hash
        assert json.loads(payload) == entry.payload
        prev = digest


@BOTH
def test_append_inside_a_transaction_rolls_back_with_it(catalog: Catalog) -> None:
    fill(catalog, 2)
    with pytest.raises(RuntimeError), catalog.transaction() as con:
        ledger.append(con, actor="a@example.org", action="test.event", payload={})
        raise RuntimeError("the business write failed")
    assert len(rows(catalog)) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("actor", ""), ("actor", "a\nb"), ("action", "Bad Action"), ("action", ""), ("subject", "x\ty")],
)
def test_append_refuses_ambiguous_fields(catalog: Catalog, field: str, value: str) -> None:
    kwargs = {"actor": "a@example.org", "action": "test.event", "subject": "s", field: value}
    with pytest.raises(InputError):
        ledger.append(catalog, **kwargs)


@BOTH
def test_concurrent_appends_keep_one_chain(catalog: Catalog) -> None:
    threads = [threading.Thread(target=fill, args=(catalog, 10, k * 10)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = rows(catalog)
    assert [r[0] for r in stored] == list(range(1, 41))
    assert all(stored[i][6] == stored[i - 1][7] for i in range(1, 40))


@BOTH
@pytest.mark.parametrize("kept", [False, True], ids=["file-per-append", "kept-open"])
def test_appends_from_many_threads_share_commits_and_keep_one_chain(catalog: Catalog, kept: bool) -> None:
    # group commit: each caller gets back exactly its own entries, committed, in its own order
    results: dict[int, list[ledger.Entry]] = {}

    def work(k: int) -> None:
        results[k] = [ledger.append(catalog, actor=f"user{k}@example.org", action="test.event",
                                    subject=f"thread:{k}", payload={"i": i}) for i in range(25)]

    with catalog.keep_open() if kept else contextlib.nullcontext():
        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stored = {r[0]: r for r in rows(catalog)}
    assert sorted(stored) == list(range(1, 201))
    for k, entries in results.items():
        assert [e.payload["i"] for e in entries] == list(range(25))
        assert [e.seq for e in entries] == sorted(e.seq for e in entries)
        for e in entries:
            assert stored[e.seq][2] == f"user{k}@example.org" and stored[e.seq][7] == e.hash
    seqs = sorted(stored)
    assert all(stored[s][6] == stored[s - 1][7] for s in seqs[1:])
    for s in seqs:
        r = stored[s]
        assert r[7] == oracle_hash(r[0], r[1], r[2], r[3], r[4], r[6], r[5])


def test_a_cached_head_left_behind_by_another_writer_is_corrected(ws: Workspace, catalog: Catalog) -> None:
    with catalog.keep_open():
        fill(catalog, 3)
        assert catalog.kept_cache()  # the head now comes from memory
        # a decision commits its entry inside its own transaction, behind the cache's back
        with catalog.transaction() as con:
            ledger.append(con, actor="officer@example.org", action="request.approve", subject="request:R-1")
        # a second Catalog on the same file (another part of the program) appends too
        ledger.append(Catalog(ws.catalog_path), actor="x@example.org", action="test.event", subject="other")
        after = fill(catalog, 2, start=10)
    assert [e.seq for e in after] == [6, 7]
    assert ledger.verify_unchecked(ws, catalog).ok


def test_an_append_that_cannot_be_written_fails_for_its_callers_and_the_next_one_succeeds(
    ws: Workspace, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(catalog, 2)
    real = commit._write
    calls = {"n": 0}

    def broken(con, entries, prepared):  # a storage failure (disk full) no local server can play on demand
        calls["n"] += 1
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(commit, "_write", broken)
    with pytest.raises(duckdb.IOException, match="disk full"):
        ledger.append(catalog, actor="a@example.org", action="test.event", subject="lost")
    monkeypatch.setattr(commit, "_write", real)
    entry = ledger.append(catalog, actor="a@example.org", action="test.event", subject="kept")
    assert calls["n"] == 1 and entry.seq == 3
    assert [r[4] for r in rows(catalog)] == ["thing:0", "thing:1", "kept"]
    assert ledger.verify_unchecked(ws, catalog).ok


class Interrupted(BaseException):
    """What a Ctrl-C does to a caller: a BaseException raised in the middle of a wait."""


@pytest.mark.parametrize("main_leads", [False, True], ids=["interrupted-follower", "interrupted-leader"])
def test_a_caller_interrupted_while_waiting_leaves_the_queue_usable(
    ws: Workspace, catalog: Catalog, main_leads: bool
) -> None:
    # a long transaction holds the write lock; the main thread and another caller queue up for the ledger (the main
    # thread first or second); Ctrl-C hits the main thread while it waits: the other caller must still be written,
    # and appends after that must not wait for a thread that is gone
    holder_ready, release = threading.Event(), threading.Event()

    def long_transaction() -> None:
        with catalog.write_lock:
            holder_ready.set()
            release.wait(10)

    got: dict[str, object] = {}

    def other() -> None:
        try:
            got["other"] = ledger.append(catalog, actor="other@example.org", action="test.other")
        except BaseException as exc:
            got["other"] = exc

    def interrupt(signum, frame):
        raise Interrupted()

    holder = threading.Thread(target=long_transaction)
    holder.start()
    holder_ready.wait(5)
    other_thread = threading.Thread(target=other)
    if not main_leads:
        other_thread.start()
        time.sleep(0.1)
    timers = [threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR1)), threading.Timer(0.6, release.set)]
    if main_leads:
        timers.append(threading.Timer(0.1, other_thread.start))
    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        for t in timers:
            t.start()
        with pytest.raises(Interrupted):
            ledger.append(catalog, actor="main@example.org", action="test.main")
    finally:
        signal.signal(signal.SIGUSR1, previous)
        release.set()
        for t in timers:
            t.join()
    other_thread.join(10)
    holder.join(10)
    assert isinstance(got.get("other"), ledger.Entry), got
    later = threading.Thread(target=fill, args=(catalog, 1))
    later.start()
    later.join(5)
    assert not later.is_alive(), "an append after the interruption is stuck waiting for a gone leader"
    stored = rows(catalog)
    assert len(stored) == 2 and stored[0][2] == "other@example.org"
    assert ledger.verify_unchecked(ws, catalog).ok


@BOTH
def test_untouched_ledger_verifies(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 20)
    ledger.checkpoint(ws, catalog, AUDITOR)
    fill(catalog, 3, 20)
    report = ledger.verify(ws, catalog, VIEWER)
    assert report.ok, report.summary()
    assert report.length == 24  # 20 + the checkpoint's own entry + 3
    assert report.checkpoints_checked == 1
    assert cli_verify(ws) == 0


def test_no_checkpoint_warns_but_passes(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 3)
    report = ledger.verify(ws, catalog, VIEWER)
    assert report.ok and report.warnings


def _tamper(catalog: Catalog, *statements: tuple[str, list]) -> None:
    with catalog.connect() as con:
        for sql, params in statements:
            con.execute(sql, params)


def _first_bad(ws: Workspace, catalog: Catalog) -> int | None:
    report = ledger.verify(ws, catalog, AUDITOR)
    assert not report.ok
    return report.first_bad.seq


@BOTH
def test_edited_payload_is_detected_and_named(ws: Workspace, catalog: Catalog, capsys) -> None:
    fill(catalog, 10)
    ledger.checkpoint(ws, catalog, AUDITOR)
    _tamper(catalog, ("UPDATE ledger SET payload = ? WHERE seq = 4", ['{"i":999}']))
    assert _first_bad(ws, catalog) == 4
    capsys.readouterr()
    assert cli_verify(ws) == 1
    err = capsys.readouterr().err
    assert "entry 4" in err and "edited" in err


def test_edited_actor_with_rehash_of_that_row_breaks_the_link(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 10)
    seq, at, _, action, subject, payload, prev, _ = rows(catalog)[5]
    forged = oracle_hash(seq, at, "mallory@example.org", action, subject, prev, payload)
    _tamper(catalog, ("UPDATE ledger SET actor = 'mallory@example.org', hash = ? WHERE seq = ?", [forged, seq]))
    report = ledger.verify(ws, catalog, AUDITOR)
    assert report.first_bad.seq == 7 and report.first_bad.kind == "broken_link"


@BOTH
def test_deleted_entry_is_detected(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 10)
    _tamper(catalog, ("DELETE FROM ledger WHERE seq = 6", []))
    assert _first_bad(ws, catalog) == 6
    assert cli_verify(ws) == 1


@BOTH
def test_swapped_entries_are_detected(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 10)
    a, b = rows(catalog)[2], rows(catalog)[3]  # seq 3 and 4
    _tamper(
        catalog,
        ("DELETE FROM ledger WHERE seq IN (3, 4)", []),
        ("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [3, *b[1:]]),
        ("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [4, *a[1:]]),
    )
    assert _first_bad(ws, catalog) == 3
    assert cli_verify(ws) == 1


def test_truncated_tail_is_detected_by_the_checkpoint(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 10)
    ledger.checkpoint(ws, catalog, AUDITOR)  # covers 11 entries (its own included)
    _tamper(catalog, ("DELETE FROM ledger WHERE seq >= 9", []))
    report = ledger.verify(ws, catalog, AUDITOR)
    assert report.first_bad.kind == "truncated" and report.first_bad.seq == 9
    assert cli_verify(ws) == 1


def test_full_rewrite_is_caught_by_the_checkpoint(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 6)
    ledger.checkpoint(ws, catalog, AUDITOR)  # entry 7
    fill(catalog, 3, 6)
    # Forge entry 2 and recompute every hash after it: the chain itself is consistent again.
    stored = rows(catalog)
    forged, prev = [], "0" * 64
    for seq, at, actor, action, subject, payload, _, _ in stored:
        if seq == 2:
            payload = '{"i":-1}'
        digest = oracle_hash(seq, at, actor, action, subject, prev, payload)
        forged.append([seq, at, actor, action, subject, payload, prev, digest])
        prev = digest
    _tamper(catalog, ("DELETE FROM ledger", []),
            *[("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)", r) for r in forged])
    report = ledger.verify(ws, catalog, AUDITOR)
    assert [p.kind for p in report.problems] == ["rewritten"]
    assert report.first_bad.seq == 1  # no earlier checkpoint vouches for anything before entry 7
    assert cli_verify(ws) == 1


def test_restoring_an_older_database_copy_is_detected(ws: Workspace, catalog: Catalog, tmp_path: Path) -> None:
    fill(catalog, 5)
    ledger.checkpoint(ws, catalog, AUDITOR)
    backup = tmp_path / "old.duckdb"
    shutil.copyfile(ws.catalog_path, backup)
    fill(catalog, 4, 5)
    ledger.checkpoint(ws, catalog, AUDITOR)
    shutil.copyfile(backup, ws.catalog_path)  # roll back: the database alone looks perfectly consistent
    report = ledger.verify(ws, catalog, AUDITOR)
    assert report.first_bad.kind == "truncated"
    assert cli_verify(ws) == 1
    # ... and stays detected after new appends make it longer again (a fork)
    fill(catalog, 10, 100)
    report = ledger.verify(ws, catalog, AUDITOR)
    assert report.first_bad.kind == "rewritten" and report.first_bad.seq == 7


def test_forged_checkpoint_signature_is_detected(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 3)
    cp = ledger.checkpoint(ws, catalog, AUDITOR)
    doc = json.loads(cp.path.read_text())
    doc["length"] = 2
    cp.path.write_text(json.dumps(doc))
    report = ledger.verify(ws, catalog, AUDITOR)
    assert any(p.kind == "bad_signature" for p in report.problems)


def test_checkpoint_from_another_key_is_refused(ws: Workspace, catalog: Catalog, tmp_path: Path) -> None:
    fill(catalog, 3)
    ledger.checkpoint(ws, catalog, AUDITOR)
    other = Workspace(tmp_path / "other")
    other.ensure_dirs()
    ledger.advance_head(catalog, other, accept_unsealed=True)  # creates another key and head over this ledger
    ledger.seal(other, catalog, by="x@example.org")
    report = ledger.verify(ws, catalog, AUDITOR, public_key=other.keys_dir / ledger.PUBLIC_KEY_FILE)
    assert any(p.kind == "unknown_key" for p in report.problems)


def test_private_key_is_owner_only(ws: Workspace, catalog: Catalog) -> None:
    ledger.checkpoint(ws, catalog, AUDITOR)
    assert (ws.keys_dir / ledger.PRIVATE_KEY_FILE).stat().st_mode & 0o077 == 0


def test_checkpoint_needs_a_role(ws: Workspace, catalog: Catalog) -> None:
    with pytest.raises(AccessDenied):
        ledger.checkpoint(ws, catalog, VIEWER)
    with pytest.raises(AccessDenied):
        ledger.verify(ws, catalog, None)  # type: ignore[arg-type]


def test_verify_or_raise(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 3)
    ledger.verify_or_raise(ws, catalog, AUDITOR)
    _tamper(catalog, ("UPDATE ledger SET action = 'test.other' WHERE seq = 2", []))
    with pytest.raises(LedgerTampered, match="entry 2"):
        ledger.verify_or_raise(ws, catalog, AUDITOR)


def test_cli_checkpoint_and_json(ws: Workspace, catalog: Catalog, capsys) -> None:
    fill(catalog, 3)
    assert main(["ledger", "checkpoint", "--workspace", str(ws.root)]) == 0  # as the OS user, an auditor
    capsys.readouterr()
    assert cli_verify(ws, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["length"] == 4 and doc["checkpoints_checked"] == 1
    assert doc["signed_head"]["seq"] == 4
    assert ledger.entry(catalog, 4).actor == ME
    ws.config_path.write_text(CONFIG + f'"{ME}" = ["viewer"]\n', encoding="utf-8")
    capsys.readouterr()
    assert main(["ledger", "checkpoint", "--workspace", str(ws.root)]) == 2
    assert "may not checkpoint" in capsys.readouterr().err


@BOTH
def test_listing_filters(catalog: Catalog) -> None:
    fill(catalog, 6)
    ledger.append(catalog, actor="risk@example.org", action="request.approve", subject="request:PR-1",
                  payload={"comment": "fine"})
    df = ledger.listing(catalog, ledger.LedgerFilter(actions=("request.approve",)))
    assert df["seq"].tolist() == [7]
    assert ledger.listing(catalog, ledger.LedgerFilter(actor="user1")).shape[0] == 2
    assert ledger.listing(catalog, ledger.LedgerFilter(text="fine")).shape[0] == 1
    assert [e.seq for e in ledger.entries_for(catalog, "request:PR-1")] == [7]


def build_chain(n: int, start: dt.datetime = dt.datetime(2026, 1, 1)) -> pd.DataFrame:
    """n valid entries computed with the oracle (for sizes where appending one by one would be slow)."""
    prev, out = "0" * 64, []
    for seq in range(1, n + 1):
        at = start + dt.timedelta(milliseconds=seq)
        payload = json.dumps({"comment": "ok", "n": seq}, separators=(",", ":"), sort_keys=True)
        digest = oracle_hash(seq, at, "risk.officer@example.org", "request.approve", f"request:PR-{seq}", prev,
                             payload)
        out.append((seq, at, "risk.officer@example.org", "request.approve", f"request:PR-{seq}", payload, prev,
                    digest))
        prev = digest
    return pd.DataFrame(out, columns=["seq", "recorded_at", "actor", "action", "subject", "payload", "prev_hash",
                                      "hash"])


def test_100k_entries_verify_and_an_edit_deep_inside_is_found(ws: Workspace, catalog: Catalog) -> None:
    frame = build_chain(100_000)
    with catalog.transaction() as con:
        con.register("frame", frame)
        con.execute("INSERT INTO ledger SELECT * FROM frame")
    # rows written outside Countersign are sealed only by a recorded acceptance (plus the checkpoint's own entry)
    ledger.checkpoint(ws, catalog, AUDITOR, accept_unsealed="a chain imported from the old system, checked")
    report = ledger.verify(ws, catalog, AUDITOR)
    assert report.ok and report.length == 100_002
    _tamper(catalog, ("UPDATE ledger SET payload = replace(payload, 'ok', 'OK') WHERE seq = 73_123", []))
    assert _first_bad(ws, catalog) == 73_123


@BOTH
def test_append_many_continues_the_same_chain(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 2)
    batch = [ledger.NewEntry(f"user{i}@example.org", "test.batch", f"thing:{i}", {"i": i}) for i in range(600)]
    out = ledger.append_many(catalog, batch)
    assert [e.seq for e in out] == list(range(3, 603))
    stored = rows(catalog)
    prev = "0" * 64
    for seq, at, actor, action, subject, payload, prev_hash, digest in stored:
        assert prev_hash == prev and digest == oracle_hash(seq, at, actor, action, subject, prev_hash, payload)
        prev = digest
    assert ledger.append_many(catalog, []) == []
    with pytest.raises(InputError):  # one bad entry refuses the whole batch
        ledger.append_many(catalog, [ledger.NewEntry("a@example.org", "test.ok"), ledger.NewEntry("", "test.ok")])
    assert len(rows(catalog)) == 602


def test_no_checkpoint_is_signed_over_a_rolled_back_or_rewritten_ledger(ws: Workspace, catalog: Catalog,
                                                                         tmp_path: Path) -> None:
    fill(catalog, 4)
    backup = tmp_path / "old.duckdb"
    shutil.copyfile(ws.catalog_path, backup)
    fill(catalog, 2, 4)
    ledger.checkpoint(ws, catalog, AUDITOR)
    before = sorted(ws.checkpoints_dir.iterdir())
    shutil.copyfile(backup, ws.catalog_path)
    fill(catalog, 5, 10)  # longer than the checkpoint again, but a different history
    with pytest.raises(LedgerTampered, match=r"no longer (extends|has the hash)"):
        ledger.seal(ws, catalog, by="x@example.org")
    assert sorted(ws.checkpoints_dir.iterdir()) == before


# -- the signed head: every commit (sync, export, decision) moves it; removing the newest entries is caught ------


@pytest.fixture()
def witness(ws: Workspace, tmp_path: Path):
    """A witness folder outside the workspace, registered for this process while the test runs."""
    folder = tmp_path / "offbox"
    ledger.use_witness(ws, folder)
    yield folder
    ledger.use_witness(ws, None)


def _delete_newest(catalog: Catalog, n: int = 1) -> None:
    _tamper(catalog, ("DELETE FROM ledger WHERE seq > (SELECT max(seq) FROM ledger) - ?", [n]))


@BOTH
def test_every_append_moves_the_signed_head(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 3)
    head = ledger.read_head(ws.checkpoints_dir)
    assert head is not None and (head.seq, head.hash) == ledger.head(catalog) == (3, rows(catalog)[-1][7])
    ledger.append_many(catalog, [ledger.NewEntry("a@example.org", "test.batch", f"b:{i}") for i in range(300)])
    assert ledger.read_head(ws.checkpoints_dir).seq == 303
    report = ledger.verify(ws, catalog, VIEWER)
    assert report.ok and report.head is not None and report.head.seq == 303


def test_deleting_the_newest_entry_after_a_sync_is_detected(demo_copy: Workspace, capsys) -> None:
    from governance.config import load_settings
    from governance.identity import identity_for
    from governance.sync import sync

    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path)
    engineer = identity_for(settings, "ml.engineer@demo.countersign.dev", source="demo")
    assert sync(Context(demo_copy, settings, catalog, engineer)).ok
    newest = ledger.entry(catalog, ledger.head(catalog)[0])
    assert newest.action == "sync.account"
    assert ledger.verify_unchecked(demo_copy, catalog).ok
    _delete_newest(catalog)
    report = ledger.verify_unchecked(demo_copy, catalog)
    assert report.first_bad.kind == "truncated" and report.first_bad.seq == newest.seq
    capsys.readouterr()
    assert main(["ledger", "verify", "--workspace", str(demo_copy.root), "--actor",
                 "auditor@demo.countersign.dev"]) == 1
    assert f"records entry {newest.seq}" in capsys.readouterr().err


def test_deleting_the_newest_entries_after_an_export_is_detected(ws: Workspace, catalog: Catalog) -> None:
    from governance.reports.export import record_export

    fill(catalog, 4)
    ledger.checkpoint(ws, catalog, AUDITOR)
    seq, _ = record_export(ws, catalog, AUDITOR, "report.export", "lab:m:1", {"sha256": "0" * 64})
    fill(catalog, 2, 10)  # what follows an export without a decision: a sync, a second export...
    assert ledger.verify(ws, catalog, AUDITOR).ok
    _delete_newest(catalog, 3)  # the export and everything after it
    report = ledger.verify(ws, catalog, AUDITOR)
    assert report.first_bad.kind == "truncated" and report.first_bad.seq == seq
    assert cli_verify(ws) == 1


def test_restoring_an_older_database_and_checkpoints_together_is_caught_by_the_witness(
    ws: Workspace, catalog: Catalog, witness: Path, tmp_path: Path, capsys
) -> None:
    fill(catalog, 5)
    ledger.checkpoint(ws, catalog, AUDITOR)
    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copyfile(ws.catalog_path, backup / "catalog.duckdb")
    shutil.copytree(ws.checkpoints_dir, backup / "checkpoints")
    fill(catalog, 4, 5)
    ledger.checkpoint(ws, catalog, AUDITOR)
    assert ledger.read_head(witness).seq == ledger.head(catalog)[0] == 11
    # restore both: database and checkpoints agree with each other, only the witness remembers entry 11
    shutil.copyfile(backup / "catalog.duckdb", ws.catalog_path)
    shutil.rmtree(ws.checkpoints_dir)
    shutil.copytree(backup / "checkpoints", ws.checkpoints_dir)
    ledger.use_witness(ws, None)
    alone = ledger.verify(ws, catalog, AUDITOR)
    assert alone.ok and any("witness" in w for w in alone.warnings)  # the documented limit without a witness
    report = ledger.verify(ws, catalog, AUDITOR, witness=witness)
    kinds = {p.kind for p in report.problems}
    assert {"rolled_back", "truncated"} <= kinds and report.first_bad.seq == 7
    capsys.readouterr()
    assert cli_verify(ws, "--witness", str(witness)) == 1
    assert "restored from an older copy" in capsys.readouterr().err
    # the configured witness ([ledger] witness in countersign.toml) is what the CLI uses without the flag
    ws.config_path.write_text(CONFIG + OS_AUDITOR + f'[ledger]\nwitness = "{witness}"\n', encoding="utf-8")
    assert cli_verify(ws) == 1
    # new writes on the restored copy never move the witness back, nor onto the new fork
    ledger.use_witness(ws, witness)
    fill(catalog, 8, 50)
    assert ledger.read_head(witness).seq == 11
    assert not ledger.verify(ws, catalog, AUDITOR).ok


def test_the_head_never_moves_onto_a_rolled_back_database(ws: Workspace, catalog: Catalog, tmp_path: Path) -> None:
    fill(catalog, 4)
    backup = tmp_path / "old.duckdb"
    shutil.copyfile(ws.catalog_path, backup)
    fill(catalog, 3, 4)
    signed = ledger.read_head(ws.checkpoints_dir)
    shutil.copyfile(backup, ws.catalog_path)  # no checkpoint at all: only the head remembers entry 7
    assert ledger.verify(ws, catalog, AUDITOR).first_bad.kind == "truncated"
    fill(catalog, 6, 100)  # longer than the head again, but another history
    assert ledger.read_head(ws.checkpoints_dir) == signed
    report = ledger.verify(ws, catalog, AUDITOR)
    assert report.first_bad.kind == "rewritten"


def test_a_deleted_head_is_reported_and_not_silently_restarted(ws: Workspace, catalog: Catalog, capsys) -> None:
    fill(catalog, 5)
    (ws.checkpoints_dir / ledger.HEAD_FILE).unlink()
    _delete_newest(catalog, 2)
    fill(catalog, 1, 10)  # an ordinary write does not start a new head over an existing ledger
    report = ledger.verify(ws, catalog, AUDITOR)
    assert [p.kind for p in report.problems] == ["missing_head"]
    capsys.readouterr()
    assert cli_verify(ws) == 1
    assert "head.json is missing" in capsys.readouterr().err
    with pytest.raises(LedgerTampered, match="accept-unsealed"):  # a plain checkpoint would vouch for anything
        ledger.checkpoint(ws, catalog, AUDITOR)
    # an explicit acceptance, recorded with its reason and the entries it covers, starts it again
    ledger.checkpoint(ws, catalog, AUDITOR, accept_unsealed="head.json lost in the disk failure of 3 Dec")
    assert ledger.verify(ws, catalog, AUDITOR).ok


def test_a_forged_head_is_detected(ws: Workspace, catalog: Catalog) -> None:
    fill(catalog, 5)
    path = ws.checkpoints_dir / ledger.HEAD_FILE
    doc = json.loads(path.read_text())
    doc["seq"] = 3
    doc["hash"] = rows(catalog)[2][7]
    path.write_text(json.dumps(doc))
    report = ledger.verify(ws, catalog, AUDITOR)
    assert [p.kind for p in report.problems] == ["bad_signature"]


def test_concurrent_writers_never_regress_the_head(ws: Workspace, catalog: Catalog) -> None:
    # threads appending through two Catalog objects, a thread re-signing the head after its own transactions, and
    # another process appending to the same file (the portal and a CLI sync): the head only ever moves forward
    fill(catalog, 1)
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with contextlib.suppress(ValueError):  # never half a file: os.replace; keep watching regardless
                h = ledger.read_head(ws.checkpoints_dir)
                if h is not None:
                    seen.append(h.seq)

    def appender(k: int) -> None:
        cat = Catalog(ws.catalog_path) if k % 2 else catalog
        for i in range(20):
            ledger.append(cat, actor=f"t{k}@example.org", action="test.event", subject=f"{k}:{i}")

    def in_transactions() -> None:
        for i in range(10):
            with catalog.transaction() as con:
                ledger.append(con, actor="officer@example.org", action="request.approve", subject=f"r:{i}")
            ledger.advance_head(catalog)

    script = (
        "import sys\nfrom pathlib import Path\nfrom governance import ledger\nfrom governance.catalog import Catalog\n"
        "c = Catalog(Path(sys.argv[1]))\n"
        "for i in range(15):\n    ledger.append(c, actor='cli@example.org', action='sync.account', subject=f'p:{i}')\n"
    )
    import subprocess
    import sys

    watcher = threading.Thread(target=watch)
    watcher.start()
    other = subprocess.Popen([sys.executable, "-c", script, str(ws.catalog_path)])
    threads = [threading.Thread(target=appender, args=(k,)) for k in range(4)]
    threads.append(threading.Thread(target=in_transactions))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert other.wait(120) == 0
    stop.set()
    watcher.join()
    length = ledger.head(catalog)[0]
    assert length == 1 + 4 * 20 + 10 + 15
    assert seen == sorted(seen), "the signed head moved backwards"
    final = ledger.read_head(ws.checkpoints_dir)
    assert (final.seq, final.hash) == ledger.head(catalog)
    assert ledger.verify(ws, catalog, AUDITOR).ok


def test_an_older_head_never_replaces_a_newer_one(ws: Workspace, catalog: Catalog) -> None:
    entries = fill(catalog, 4)
    before = ledger.read_head(ws.checkpoints_dir)
    # a writer that read the head before others committed comes late with entry 2
    assert signed_head._store_head(ws, 2, entries[1].hash, lambda s, h: True, may_start=True) is None
    assert ledger.read_head(ws.checkpoints_dir) == before


def test_verify_passes_on_the_untouched_demo(demo_workspace: Workspace) -> None:
    catalog = Catalog(demo_workspace.catalog_path)
    report = ledger.verify_unchecked(demo_workspace, catalog)
    assert report.ok, report.summary()
    assert report.head is not None and report.head.seq == report.length


def test_checkpoints_heads_and_keys_are_owner_only(ws: Workspace, catalog: Catalog, witness: Path) -> None:
    fill(catalog, 2)
    cp = ledger.checkpoint(ws, catalog, AUDITOR)
    for path in (cp.path, ws.checkpoints_dir / ledger.HEAD_FILE, witness / ledger.HEAD_FILE,
                 ws.keys_dir / ledger.PRIVATE_KEY_FILE):
        assert path.stat().st_mode & 0o777 == 0o600, path
    for folder in (ws.checkpoints_dir, ws.keys_dir, ws.exports_dir, witness):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
