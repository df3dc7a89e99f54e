"""Several processes on one catalog, as portal replicas and sync workers share a PostgreSQL catalog.

Real processes (not threads: the in-process write lock would serialise threads by itself) start together on a
barrier file, against a real PostgreSQL server (``postgres_server``) and, where the scenario is cheap enough there too,
the DuckDB file. What must hold: one unbroken chain, one promotion per request, nothing of a killed writer's
transaction left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from governance import ledger
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.demo import DEMO_DOMAIN
from governance.demo_history import open_request_id
from tests.backends import BOTH, use_catalog_url

ROOT = Path(__file__).resolve().parents[2]
D = DEMO_DOMAIN

_PRELUDE = f"""
import os, sys, time
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
ws = Workspace(Path(sys.argv[1])); settings = load_settings(ws)
catalog = Catalog(ws.catalog_path, url=settings.catalog.url)
go = Path(sys.argv[2])
while not go.exists():  # the barrier: every process starts its work at the same moment
    time.sleep(0.005)
"""


def _spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _PRELUDE + code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _workspace(tmp_path: Path, url: str | None) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text('[roles]\n"auditor@example.org" = ["auditor"]\n', encoding="utf-8")
    use_catalog_url(ws, url)
    Catalog(ws.catalog_path, url=url).migrate()
    return ws


# PostgreSQL: the replicas' case, 500 each. DuckDB: processes take turns on the file (the portal and a CLI sync);
# before the catalog's own gate (an flock held from open to close) such a run lost an entry or read a half-truncated file
@pytest.mark.parametrize(("catalog_backend", "per_writer"), [("postgresql", 500), ("duckdb", 100)])
def test_four_processes_appending_entries_keep_one_chain(tmp_path: Path, catalog_url: str | None,
                                                        per_writer: int) -> None:
    ws = _workspace(tmp_path, catalog_url)
    go = tmp_path / "go"
    code = """
from governance import ledger
k, n = int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    ledger.append(catalog, actor=f"writer{k}@example.org", action="test.event", subject=f"w{k}", payload={"i": i})
"""
    procs = [_spawn(code, str(ws.root), str(go), str(k), str(per_writer)) for k in range(4)]
    go.touch()
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    total = 4 * per_writer
    catalog = Catalog(ws.catalog_path, url=catalog_url)
    report = ledger.verify_unchecked(ws, catalog)
    assert report.ok, report.summary()
    assert report.length == total
    with catalog.connect() as con:
        stored = con.execute("SELECT seq, actor, payload, prev_hash, hash FROM ledger ORDER BY seq").fetchall()
    assert [r[0] for r in stored] == list(range(1, total + 1))
    assert all(stored[i][3] == stored[i - 1][4] for i in range(1, total))  # one chain, no fork
    for k in range(4):  # each writer's entries, in its own order
        mine = [json.loads(r[2])["i"] for r in stored if r[1] == f"writer{k}@example.org"]
        assert mine == list(range(per_writer))


def _demo_on(demo_copy: Workspace, catalog_url: str | None) -> Workspace:
    if catalog_url is not None:
        from countersign_cli.main import main

        assert main(["catalog", "copy", "--workspace", str(demo_copy.root), "--to", catalog_url]) == 0
        use_catalog_url(demo_copy, catalog_url)
    return demo_copy


@pytest.mark.parametrize("catalog_backend", ["postgresql"])
def test_two_replicas_approving_and_executing_one_request_at_once_promote_it_once(
        demo_copy: Workspace, catalog_url: str | None, tmp_path: Path) -> None:
    _demo_on(demo_copy, catalog_url)
    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path, url=settings.catalog.url)
    rid = open_request_id(catalog)
    assert rid is not None
    prod = demo_copy.root / "registry" / "prod" / "claims-fraud"
    before = {p.name for p in prod.iterdir() if p.is_dir()}
    go = tmp_path / "go"
    code = f"""
from core.errors import AccessDenied, ConflictError
from governance.context import Context
from governance.execution import execute
from governance.identity import identity_for
from governance.promotion import approve
officer = Context(ws, settings, catalog, identity_for(settings, sys.argv[3] + "@{D}", source="cli"))
outcome = []
try:
    r = approve(officer, {rid!r}, "go")
    outcome.append("approved:" + r.status)
except (ConflictError, AccessDenied) as exc:
    outcome.append("refused")
try:
    r = execute(officer, {rid!r})
    outcome.append("executed:" + r.status)
except ConflictError:
    outcome.append("conflict")
print(" ".join(outcome))
"""
    procs = [_spawn(code, str(demo_copy.root), str(go), who) for who in ("risk.officer", "validator")]
    go.touch()
    outcomes = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outcomes.append(out.strip())
    joined = " ".join(outcomes)
    assert joined.count("executed:executed") == 1, outcomes
    actions = [e.action for e in ledger.entries_for(catalog, f"request:{rid}")]
    assert actions.count("request.approve") == 1 and actions.count("execute.start") == 1, actions
    assert actions.count("execute.done") == 1
    after = {p.name for p in prod.iterdir() if p.is_dir()}
    assert len(after - before) == 1  # exactly one copy registered in prod
    assert catalog.request(rid).status == "executed"
    assert ledger.verify_unchecked(demo_copy, catalog).ok


@BOTH
def test_a_claim_in_progress_makes_another_replica_wait_then_refuse(demo_copy: Workspace, catalog_url: str | None,
                                                                      tmp_path: Path) -> None:
    # deterministic: replica A has read 'approved' and holds its transaction open while replica B tries to execute;
    # B must wait for A's outcome and then see 'executing' (without the row lock B would read 'approved' and
    # promote a second time)
    from governance import promotion
    from governance.identity import identity_for

    _demo_on(demo_copy, catalog_url)
    settings = load_settings(demo_copy)
    catalog = Catalog(demo_copy.catalog_path, url=settings.catalog.url)
    rid = open_request_id(catalog)
    assert rid is not None
    promotion.approve(Context(demo_copy, settings, catalog, identity_for(settings, f"risk.officer@{D}", source="cli")), rid,
                      "go")
    assert catalog.request(rid).status == "approved"
    go = tmp_path / "go"
    code = f"""
from core.errors import ConflictError
from governance.context import Context
from governance.execution import execute
from governance.identity import identity_for
print("started", flush=True)
try:
    r = execute(Context(ws, settings, catalog, identity_for(settings, "validator@{D}", source="cli")), {rid!r})
    print("executed:" + r.status)
except ConflictError as exc:
    print("conflict")
"""
    with catalog.transaction() as con:
        status, *_ = promotion._status_in_txn(con, rid)  # replica A's compare ...
        assert status == "approved"
        child = _spawn(code, str(demo_copy.root), str(go))
        go.touch()
        assert child.stdout is not None and child.stdout.readline().strip() == "started"
        time.sleep(1.5)  # B is now waiting for A (its import done, its claim under way)
        promotion._set(con, rid, promotion._now(), status="executing", execution_state="queued")  # ... and set
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.strip().splitlines()[-1] == "conflict"
    assert catalog.request(rid).status == "executing"
    actions = [e.action for e in ledger.entries_for(catalog, f"request:{rid}")]
    assert "execute.start" not in actions


@BOTH
def test_a_writer_killed_mid_transaction_leaves_nothing_half_written(tmp_path: Path, catalog_url: str | None) -> None:
    ws = _workspace(tmp_path, catalog_url)
    catalog = Catalog(ws.catalog_path, url=catalog_url)
    for i in range(3):
        ledger.append(catalog, actor="a@example.org", action="test.event", subject=f"before:{i}")
    go = tmp_path / "go"
    code = """
from governance import ledger
with catalog.transaction() as con:
    ledger.append(con, actor="k@example.org", action="request.create", subject="request:R-K")
    con.execute("INSERT INTO promotion_requests (request_id, version_id, model, from_env, to_env, requester, status, "
                "created_at) VALUES ('R-K', 'a:m:1', 'm', 'dev', 'prod', 'k@example.org', 'pending', now())")
    print("inside", flush=True)
    time.sleep(60)  # killed here, the transaction open
"""
    proc = _spawn(code, str(ws.root), str(go))
    go.touch()
    assert proc.stdout is not None and proc.stdout.readline().strip() == "inside"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    started = time.monotonic()
    entry = ledger.append(catalog, actor="a@example.org", action="test.event", subject="after")  # the lock is free
    assert time.monotonic() - started < 20
    assert entry.seq == 4  # the killed transaction's entry never existed
    with catalog.connect() as con:
        assert con.execute("SELECT count(*) FROM promotion_requests WHERE request_id = 'R-K'").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM ledger WHERE actor = 'k@example.org'").fetchone()[0] == 0
    report = ledger.verify_unchecked(ws, catalog)
    assert report.ok and report.length == 4, report.summary()
