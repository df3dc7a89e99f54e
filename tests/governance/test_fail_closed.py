"""Issue 31: a sign-off binds to the bytes it approved, and decisions run only on a catalog the ledger vouches for.

Each test is one finding of the issue, tried the way it was found: through the CLI (``python -m countersign_cli``'s
``main``) on a copy of the demo workspace (real folder registries, a real DuckDB file, the real ledger).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shutil
from pathlib import Path

import pytest

from core.canonical import canonical_json
from core.errors import ConflictError
from core.structs import replace
from countersign_cli.main import main
from governance import ledger
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.demo_history import open_request_id

D = "demo.countersign.dev"
OFFICER, VALIDATOR, ENGINEER, AUDITOR = (f"{p}@{D}" for p in ("risk.officer", "validator", "ml.engineer", "auditor"))


def cli(ws: Workspace, who: str, *args: str) -> int:
    return main([*args, "--workspace", str(ws.root), *(("--actor", who) if who else ())])


def counts(ws: Workspace) -> dict[str, int]:
    """Rows of every table a decision writes, and the files under exports/ and the prod registry."""
    catalog = Catalog(ws.catalog_path)
    out = {t: int(catalog.query_df(f"SELECT count(*) AS n FROM {t}")["n"][0])
           for t in ("ledger", "promotion_requests", "decisions")}
    out["prod_versions"] = sum(1 for _ in (ws.root / "registry" / "prod").glob("*/*/metadata.json"))
    return out


def request_ledger(ws: Workspace, rid: str) -> list[ledger.Entry]:
    return ledger.entries_for(Catalog(ws.catalog_path), f"request:{rid}")


def open_request(ws: Workspace) -> str:
    rid = open_request_id(Catalog(ws.catalog_path))
    assert rid is not None
    return rid


def artifact_of(ws: Workspace, version_id: str) -> Path:
    account, model, number = version_id.split(":")
    folder = {"lab-dev": "dev", "lab-staging": "staging", "lab-prod": "prod"}[account]
    return ws.root / "registry" / folder / model / number / "model.skops"


# -- finding 1: bytes swapped after approval --------------------------------------------------------------------


def test_bytes_swapped_after_approval_are_not_promoted(demo_copy: Workspace, capsys) -> None:
    ws = demo_copy
    rid = open_request(ws)
    assert cli(ws, OFFICER, "approve", rid, "--comment", "all gates pass", "--no-execute") == 0
    request = Catalog(ws.catalog_path).request(rid)
    assert request.status == "approved"
    approved = request_ledger(ws, rid)[0].payload["artifact_sha256"]
    assert approved, "the request froze no digest"
    # a data scientist copies another model's file over the approved artifact
    other = artifact_of(ws, "lab-dev:claims-fraud:4")
    target = artifact_of(ws, request.version_id)
    assert other.read_bytes() != target.read_bytes()
    shutil.copyfile(other, target)
    before = counts(ws)
    capsys.readouterr()
    assert cli(ws, ENGINEER, "execute", rid) == 1
    err = capsys.readouterr().err
    assert "replaced" in err and approved[:12] in err, err
    assert counts(ws)["prod_versions"] == before["prod_versions"]  # nothing landed in prod
    refused = [e for e in request_ledger(ws, rid) if e.action == "execution.refused"]
    assert len(refused) == 1 and refused[0].payload["expected_sha256"] == approved
    assert refused[0].payload["found_sha256"] != approved
    assert Catalog(ws.catalog_path).request(rid).status == "approved"
    assert cli(ws, AUDITOR, "ledger", "verify") == 0  # the refusal is on record, the chain intact


def test_bytes_swapped_before_approval_are_refused_at_approval(demo_copy: Workspace, capsys) -> None:
    ws = demo_copy
    rid = open_request(ws)
    version_id = Catalog(ws.catalog_path).request(rid).version_id
    shutil.copyfile(artifact_of(ws, "lab-dev:claims-fraud:4"), artifact_of(ws, version_id))
    capsys.readouterr()
    assert cli(ws, OFFICER, "approve", rid, "--comment", "all gates pass", "--no-execute") == 1
    assert "replaced" in capsys.readouterr().err
    assert Catalog(ws.catalog_path).request(rid).status == "pending"
    assert [e.action for e in request_ledger(ws, rid)][-1] == "approval.refused"


# -- finding 4: execute trusted a mutable status column --------------------------------------------------------------


def test_a_status_flipped_in_the_catalog_does_not_execute_and_verify_reports_it(demo_copy: Workspace,
                                                                                 capsys) -> None:
    ws = demo_copy
    rid = open_request(ws)
    with Catalog(ws.catalog_path).transaction() as con:
        con.execute("UPDATE promotion_requests SET status = 'approved', execution_state = 'queued' "
                    "WHERE request_id = ?", [rid])
    before = counts(ws)
    capsys.readouterr()
    assert cli(ws, ENGINEER, "execute", rid) == 2
    err = capsys.readouterr().err
    assert "pending in the ledger" in err and "0 of 1 approvals" in err, err
    assert counts(ws) == before
    assert cli(ws, AUDITOR, "ledger", "verify", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    mismatches = [p for p in report["problems"] if p["kind"] == "state_mismatch"]
    assert mismatches and rid in mismatches[0]["message"] and "pending" in mismatches[0]["message"]


def test_a_decision_row_added_by_hand_does_not_count_as_an_approval(demo_copy: Workspace, capsys) -> None:
    ws = demo_copy
    rid = open_request(ws)
    with Catalog(ws.catalog_path).transaction() as con:
        con.execute("INSERT INTO decisions VALUES ('D-forged', ?, ?, 'approve', 'ok', now(), NULL, '{}', NULL)",
                    [rid, OFFICER])
        con.execute("UPDATE promotion_requests SET status = 'approved' WHERE request_id = ?", [rid])
    capsys.readouterr()
    assert cli(ws, ENGINEER, "execute", rid) == 2
    assert cli(ws, AUDITOR, "ledger", "verify") == 1
    assert "approvals by" in capsys.readouterr().err


# -- finding 5: decisions on a catalog the ledger disowns ------------------------------------------------------------


def test_a_rolled_back_catalog_refuses_every_decision_and_writes_nothing(demo_copy: Workspace, tmp_path: Path,
                                                                          capsys) -> None:
    ws = demo_copy
    rid = open_request(ws)
    backup = tmp_path / "catalog-old.duckdb"
    shutil.copyfile(ws.catalog_path, backup)
    assert cli(ws, OFFICER, "approve", rid, "--comment", "all gates pass", "--no-execute") == 0
    assert cli(ws, AUDITOR, "ledger", "checkpoint") == 0
    shutil.copyfile(backup, ws.catalog_path)  # an older catalog restored: the approval is gone from it
    before = counts(ws)
    capsys.readouterr()
    for who, args in ((ENGINEER, ("request", "--version", "lab-dev:claims-fraud:4", "--to", "staging", "--reason", "again")),
                      (OFFICER, ("approve", rid, "--comment", "all gates pass", "--no-execute")),
                      (OFFICER, ("reject", rid, "--comment", "not now")),
                      (ENGINEER, ("execute", rid)),
                      (ENGINEER, ("cancel", rid))):
        assert cli(ws, who, *args) == 1, args
        err = capsys.readouterr().err
        assert "nothing was written" in err and "older copy" in err, (args, err)
        assert err.count("\n") == 1, err  # one line
    assert counts(ws) == before


# -- finding 6: forged entries laundered, an emptied ledger passing --------------------------------------------------


def forge_entry(ws: Workspace) -> int:
    """Append a correctly hashed entry straight into the table, as someone with write access to the file could."""
    catalog = Catalog(ws.catalog_path)
    seq, prev = ledger.head(catalog)
    at = dt.datetime(2026, 12, 1, 12, 0, 0)
    payload = canonical_json({"comment": "fine", "version_id": "lab-staging:claims-fraud:3"})
    digest = ledger.entry_hash(seq + 1, at, OFFICER, "request.approve", "request:PR-forged", prev, payload)
    with catalog.transaction() as con:
        con.execute("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [seq + 1, at, OFFICER, "request.approve", "request:PR-forged", payload, prev, digest])
    return seq + 1


def test_a_forged_entry_is_not_sealed_by_the_next_checkpoint(demo_copy: Workspace, capsys) -> None:
    ws = demo_copy
    forged = forge_entry(ws)
    capsys.readouterr()
    assert cli(ws, AUDITOR, "ledger", "verify") == 1
    assert f"entries {forged}..{forged} are newer than the signed head" in capsys.readouterr().err
    assert cli(ws, AUDITOR, "ledger", "checkpoint") == 1
    assert "--accept-unsealed" in capsys.readouterr().err
    assert ledger.read_head(ws.checkpoints_dir).seq == forged - 1  # still not sealed
    # nor by any other write: a decision refuses, and a sync leaves the head where it was
    assert cli(ws, OFFICER, "approve", open_request(ws), "--comment", "ok", "--no-execute") == 1
    assert cli(ws, ENGINEER, "sync") == 0
    assert ledger.read_head(ws.checkpoints_dir).seq == forged - 1
    assert cli(ws, AUDITOR, "ledger", "verify") == 1


def test_unsealed_entries_are_sealed_only_by_a_recorded_acceptance(demo_copy: Workspace, capsys) -> None:
    ws = demo_copy
    forged = forge_entry(ws)
    assert cli(ws, AUDITOR, "ledger", "checkpoint", "--accept-unsealed", "--reason",
               "entry written by the migration script on 1 Dec, checked against its log") == 0
    catalog = Catalog(ws.catalog_path)
    accepted = [e for e in ledger.entries_for(catalog, "ledger") if e.action == "ledger.accept_unsealed"]
    assert len(accepted) == 1
    assert accepted[0].payload["from_seq"] == forged and accepted[0].payload["to_seq"] == forged
    assert accepted[0].actor == AUDITOR and "migration script" in accepted[0].payload["reason"]
    capsys.readouterr()
    assert cli(ws, AUDITOR, "ledger", "verify") == 0


def test_an_emptied_ledger_without_its_head_is_missing_head(demo_copy: Workspace, capsys) -> None:
    ws = demo_copy
    shutil.rmtree(ws.checkpoints_dir)
    with Catalog(ws.catalog_path).transaction() as con:
        con.execute("DELETE FROM ledger")
    capsys.readouterr()
    assert cli(ws, AUDITOR, "ledger", "verify", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert next(p["kind"] for p in report["problems"]) == "missing_head"
    assert not report["ok"]


def test_a_brand_new_workspace_has_nothing_to_verify_yet(tmp_path: Path, capsys) -> None:
    ws = Workspace(tmp_path / "new")
    ws.ensure_dirs()
    ws.config_path.write_text('[environments]\norder = ["dev", "prod"]\n[roles]\n'
                              f'"os:{getpass.getuser()}" = ["auditor"]\n', encoding="utf-8")
    Catalog(ws.catalog_path).migrate()
    load_settings(ws)
    capsys.readouterr()
    assert cli(ws, "", "ledger", "verify") == 0
    assert "nothing to verify yet" in capsys.readouterr().out


def test_an_approval_is_counted_from_the_ledger_with_its_digest(demo_copy: Workspace) -> None:
    ws = demo_copy
    rid = open_request(ws)
    assert cli(ws, OFFICER, "approve", rid, "--comment", "all gates pass", "--no-execute") == 0
    catalog = Catalog(ws.catalog_path)
    with catalog.connect() as con:
        truth = ledger.request_from_ledger(con, rid)
    assert truth.status == "approved" and truth.approvers == (OFFICER,)
    assert truth.approvals[0].artifact_sha256 == truth.artifact_sha256 is not None
    assert truth.approvals[0].policy_version


def test_the_pdf_states_what_the_ledger_binds_and_whether_the_catalog_agrees(demo_copy: Workspace,
                                                                                tmp_path: Path) -> None:
    from tests.governance.report_world import pdf_text

    ws = demo_copy
    rid = open_request(ws)
    version_id = Catalog(ws.catalog_path).request(rid).version_id
    assert cli(ws, OFFICER, "approve", rid, "--comment", "all gates pass", "--no-execute") == 0
    bound = request_ledger(ws, rid)[0].payload["artifact_sha256"]
    out = tmp_path / "good.pdf"
    assert cli(ws, OFFICER, "report", "--version", version_id, "--template", "sr-11-7", "--out", str(out),
               "--unsigned", "--no-html") == 0
    text = " ".join(pdf_text(out).split())
    assert "What the ledger binds" in text and rid in text and "1 of 1" in text
    assert bound[:24] in text.replace(" ", "")
    with Catalog(ws.catalog_path).transaction() as con:  # the catalog's cache edited by hand
        con.execute("UPDATE promotion_requests SET status = 'executed' WHERE request_id = ?", [rid])
    flipped = tmp_path / "flipped.pdf"
    assert cli(ws, OFFICER, "report", "--version", version_id, "--template", "sr-11-7", "--out", str(flipped),
               "--unsigned", "--no-html") == 0
    assert " NO" in " ".join(pdf_text(flipped).split())


def test_a_dropped_ledger_table_is_a_verdict_not_a_traceback(demo_copy: Workspace, capsys) -> None:
    ws = demo_copy
    rid = open_request(ws)
    with Catalog(ws.catalog_path).transaction() as con:
        con.execute("DROP TABLE ledger")
    capsys.readouterr()
    assert cli(ws, AUDITOR, "ledger", "verify", "--json") == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert not report["ok"] and "no ledger table" in report["problems"][0]["message"]
    assert "Traceback" not in err
    assert cli(ws, OFFICER, "approve", rid, "--comment", "fine", "--no-execute") == 1
    err = capsys.readouterr().err
    assert "no ledger table" in err and "Traceback" not in err


# -- issue 34, finding 2: one person, two identities -----------------------------------------------------------------


def test_a_mapping_added_later_makes_four_eyes_compare_people_not_spellings(demo_copy: Workspace, capsys) -> None:
    from core.errors import AccessDenied
    from governance.execution import execute
    from governance.identity import os_identity
    from governance.policy import evaluate
    from governance.promotion import RiskAcceptance, approve, create_request

    ws = demo_copy
    config = ws.config_path.read_text()
    ws.config_path.write_text(config.replace("[roles]", '[roles]\n"os:csalice" = ["ml_engineer", "risk_officer"]', 1))
    settings = load_settings(ws)
    catalog = Catalog(ws.catalog_path)
    alice_os = os_identity(settings, "csalice")
    assert alice_os.email == "os:csalice"
    rid = create_request(Context(ws, settings, catalog, alice_os), "lab-dev:repair-cost:2", "staging", "needed for Q1").request_id
    # later an admin maps the OS account to the person's sign-in e-mail (and grants that e-mail the same roles)
    text = ws.config_path.read_text().replace("[roles]", '[roles]\n"alice@bank.example" = ["risk_officer"]', 1)
    ws.config_path.write_text(text + '\n[os_users]\ncsalice = "alice@bank.example"\n')
    settings = load_settings(ws)
    same_person = os_identity(settings, "csalice")
    assert same_person.email == "alice@bank.example"
    with pytest.raises(AccessDenied, match="requested"):
        approve(Context(ws, settings, catalog, same_person), rid, "looks right to me")
    # and an approval the ledger recorded before the mapping no longer counts once the mapping exists
    old_settings = replace(load_settings(ws), os_users={})
    blocking = tuple(r.gate for r in evaluate(catalog, settings, "lab-dev:repair-cost:2", "staging").blocking)
    accepted = RiskAcceptance(blocking, "Drift is measured after the first staging traffic arrives.",
                              dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=30))
    approve(Context(ws, old_settings, catalog, same_person), rid, "looks right to me", risk_acceptance=accepted)
    assert catalog.request(rid).status == "approved"
    with pytest.raises(ConflictError, match=r"pending in the ledger .0 of 1 approvals.* person who requested"):
        execute(Context(ws, settings, catalog, os_identity(settings, "csalice")), rid)
    assert cli(ws, AUDITOR, "ledger", "verify") == 1
    assert "approvals by" in capsys.readouterr().err


# -- issue 34, finding 6: takeover while the first executor runs -----------------------------------------------------

SLOW_EXECUTOR = """
import sys, time
from pathlib import Path
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.execution import execute
from governance.identity import identity_for
from governance.sources import connector_for
ws = Workspace(Path(sys.argv[1])); settings = load_settings(ws)
class Slow:
    def __init__(self, inner): self.inner = inner; self.kind = inner.kind
    def __getattr__(self, name): return getattr(self.inner, name)
    def artifact_digest(self, *a, **k): return self.inner.artifact_digest(*a, **k)
    def set_approval(self, *a): return self.inner.set_approval(*a)
    def register_copy(self, *a):
        print("copying", flush=True)
        time.sleep(120)  # a 2 GB artifact on a slow link
        return self.inner.register_copy(*a)
execute(Context(ws, settings, Catalog(ws.catalog_path), identity_for(settings, sys.argv[2], source="cli")), sys.argv[3],
        connectors=lambda name: Slow(connector_for(ws, settings, name)))
"""


def test_a_takeover_is_refused_while_the_first_executor_lives_and_allowed_once_it_is_gone(demo_copy: Workspace,
                                                                                          capsys) -> None:
    import signal
    import subprocess
    import sys

    ws = demo_copy
    rid = open_request(ws)
    assert cli(ws, OFFICER, "approve", rid, "--comment", "all gates pass", "--no-execute") == 0
    prod_before = counts(ws)["prod_versions"]
    child = subprocess.Popen([sys.executable, "-c", SLOW_EXECUTOR, str(ws.root), OFFICER, rid],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert child.stdout.readline().strip() == "copying", child.stderr.read()
        capsys.readouterr()
        assert cli(ws, ENGINEER, "execute", rid, "--takeover") == 2
        err = capsys.readouterr().err
        assert "being executed right now" in err and f"process {child.pid}" in err, err
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert Catalog(ws.catalog_path).request(rid).status == "executing"
    assert cli(ws, ENGINEER, "execute", rid, "--takeover") == 0
    assert Catalog(ws.catalog_path).request(rid).status == "executed"
    assert counts(ws)["prod_versions"] == prod_before + 1
    assert cli(ws, AUDITOR, "ledger", "verify") == 0


def test_an_execution_on_another_host_is_taken_over_only_after_its_heartbeat_stops(demo_copy: Workspace) -> None:
    from governance.execution_lock import SILENCE

    ws = demo_copy
    rid = open_request(ws)
    assert cli(ws, OFFICER, "approve", rid, "--comment", "all gates pass", "--no-execute") == 0
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)

    def started_elsewhere(last_beat: dt.datetime) -> None:
        catalog = Catalog(ws.catalog_path)
        payload = catalog.request(rid).payload | {"executor": {"host": "replica-2.internal", "pid": 4242}}
        with catalog.transaction() as con:
            con.execute("UPDATE promotion_requests SET status = 'executing', updated_at = ?, payload = ? "
                        "WHERE request_id = ?", [last_beat, json.dumps(payload), rid])
            ledger.append(con, actor=OFFICER, action="execute.start", subject=f"request:{rid}",
                          payload={"attempt": 1, "resume_from": "queued", "executor": payload["executor"]})

    started_elsewhere(now - dt.timedelta(seconds=5))
    assert cli(ws, ENGINEER, "execute", rid, "--takeover") == 2  # replica-2 beat 5 s ago: alive
    with Catalog(ws.catalog_path).transaction() as con:
        con.execute("UPDATE promotion_requests SET updated_at = ? WHERE request_id = ?",
                    [now - SILENCE - dt.timedelta(seconds=5), rid])
    assert cli(ws, ENGINEER, "execute", rid, "--takeover") == 0
    assert Catalog(ws.catalog_path).request(rid).status == "executed"
