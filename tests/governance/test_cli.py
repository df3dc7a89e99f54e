"""The countersign CLI: exit status 0 / 1 / 2, one-line reasons, and the --json shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from governance.config import Workspace


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "countersign_cli", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


def test_models_json_shape(demo_workspace: Workspace) -> None:
    proc = run("models", "--workspace", str(demo_workspace.root), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {m["name"] for m in doc["models"]} == {"claims-fraud", "credit-approval", "repair-cost"}
    v = next(v for v in doc["versions"] if v["version_id"] == "lab-prod:repair-cost:2")
    assert v["unapproved_deployment"] is True and v["deployed_on"] == "repair-cost-prod"
    assert set(v) >= {"model", "version", "environment", "account", "approval_status", "created_by", "risk_tier"}
    assert len(doc["versions"]) == sum(m["versions"] for m in doc["models"])


def test_models_table_and_environment_filter(demo_workspace: Workspace) -> None:
    proc = run("models", "--workspace", str(demo_workspace.root), "--environment", "prod")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()[1:]
    assert lines and all(" prod " in line for line in lines)
    assert any("UNAPPROVED DEPLOYMENT" in line for line in lines)


def test_a_reader_that_goes_away_stops_the_listing_quietly(demo_workspace: Workspace) -> None:
    # `countersign models | head -3`: the pipe closes before the listing is written; the command stops with the
    # shell's SIGPIPE status and no traceback on the terminal
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "countersign_cli", "models", "--workspace",
                               str(demo_workspace.root)], stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=180)
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "countersign.toml").write_text('[[accounts]]\nname="a"\nenvironment="qa"\nconnector="folder"\npath="x"\n')
    proc = run("models", "--workspace", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "accounts[0].environment: 'qa' is not in [environments].order" in proc.stderr


def test_missing_workspace_exits_2(tmp_path: Path) -> None:
    proc = run("sync", "--workspace", str(tmp_path / "nowhere"))
    assert proc.returncode == 2
    assert "countersign demo --workspace" in proc.stderr


def test_sync_with_a_failing_account_exits_1_and_keeps_the_others(demo_copy: Workspace) -> None:
    text = demo_copy.config_path.read_text()
    demo_copy.config_path.write_text(text.replace('path = "registry/staging"', 'path = "registry/missing"'))
    proc = run("sync", "--workspace", str(demo_copy.root), "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    status = {a["account"]: a["status"] for a in doc["accounts"]}
    assert status == {"lab-dev": "ok", "lab-staging": "failed", "lab-prod": "ok"}
    failed = next(a for a in doc["accounts"] if a["account"] == "lab-staging")
    assert "registry/missing" in failed["error"]
    # the failed account's catalog rows are untouched
    proc = run("models", "--workspace", str(demo_copy.root), "--json", "--environment", "staging")
    assert len(json.loads(proc.stdout)["versions"]) == 8


def test_sync_unknown_account_exits_2(demo_workspace: Workspace) -> None:
    proc = run("sync", "--workspace", str(demo_workspace.root), "--account", "nope")
    assert proc.returncode == 2
    assert "no account named 'nope'" in proc.stderr


def test_sync_as_a_viewer_is_refused(demo_copy: Workspace) -> None:
    proc = run("sync", "--workspace", str(demo_copy.root), "--actor", "auditor@demo.countersign.dev")
    assert proc.returncode == 2
    assert "may not sync" in proc.stderr


# -- who the command line acts as ---------------------------------------------------------------------------------

D = "demo.countersign.dev"


def _not_demo(ws: Workspace, os_roles: str | None) -> None:
    """Turn a demo copy into an ordinary workspace; ``os_roles`` is what [roles] grants the OS user (None: nothing)."""
    from governance.identity import os_user

    text = ws.config_path.read_text(encoding="utf-8").replace("demo = true", "demo = false")
    text = "\n".join(line for line in text.splitlines() if not line.startswith('"os:'))
    if os_roles is not None:
        text = text.replace("[roles]\n", f'[roles]\n"os:{os_user()}" = {os_roles}\n')
    ws.config_path.write_text(text + "\n", encoding="utf-8")


def _open_request(ws: Workspace) -> str:
    from governance.catalog import Catalog
    from governance.demo_history import open_request_id

    rid = open_request_id(Catalog(ws.catalog_path))
    assert rid
    return rid


def test_actor_is_refused_outside_the_demo(demo_copy: Workspace, capsys, monkeypatch) -> None:
    from countersign_cli.main import main

    _not_demo(demo_copy, '["risk_officer"]')
    rid = _open_request(demo_copy)
    for how in ("flag", "env"):
        if how == "env":
            monkeypatch.setenv("COUNTERSIGN_ACTOR", f"risk.officer@{D}")
            argv = ["reject", rid, "--workspace", str(demo_copy.root), "--comment", "no"]
        else:
            argv = ["reject", rid, "--workspace", str(demo_copy.root), "--actor", f"risk.officer@{D}", "--comment", "no"]
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "only on the demo workspace" in err and err.count("\n") == 1
    monkeypatch.delenv("COUNTERSIGN_ACTOR")
    from governance import ledger
    from governance.catalog import Catalog

    assert ledger.entries_for(Catalog(demo_copy.catalog_path), f"request:{rid}")[-1].action != "request.reject"


def test_the_os_user_acts_with_the_roles_mapped_to_it(demo_copy: Workspace, capsys) -> None:
    from countersign_cli.main import main
    from governance import ledger
    from governance.catalog import Catalog
    from governance.identity import os_user

    _not_demo(demo_copy, '["risk_officer"]')
    rid = _open_request(demo_copy)
    capsys.readouterr()
    assert main(["reject", rid, "--workspace", str(demo_copy.root), "--comment", "not yet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "rejected"
    last = ledger.entries_for(Catalog(demo_copy.catalog_path), f"request:{rid}")[-1]
    assert (last.action, last.actor) == ("request.reject", f"os:{os_user()}")
    assert main(["ledger", "verify", "--workspace", str(demo_copy.root)]) == 0
    # a role the mapping does not give stays refused
    assert main(["sync", "--workspace", str(demo_copy.root)]) == 2
    assert "may not sync" in capsys.readouterr().err


def test_an_unmapped_os_user_gets_nothing_and_is_told_which_key_to_add(demo_copy: Workspace, capsys) -> None:
    from countersign_cli.main import main
    from governance.identity import os_user

    _not_demo(demo_copy, None)
    rid = _open_request(demo_copy)
    for argv in (["approve", rid, "--comment", "ok"], ["sync"], ["ledger", "checkpoint"], ["ledger", "verify"],
                 ["cancel", rid], ["execute", rid], ["report", "--version", "lab-prod:claims-fraud:2"],
                 ["pack", "--version", "lab-prod:claims-fraud:2"],
                 ["request", "--version", "lab-dev:claims-fraud:1", "--to", "staging", "--reason", "r"]):
        capsys.readouterr()
        assert main([*argv, "--workspace", str(demo_copy.root)]) == 2, argv
        err = capsys.readouterr().err
        assert f'"os:{os_user()}"' in err and "[roles]" in err, (argv, err)
    assert main(["models", "--workspace", str(demo_copy.root)]) == 0  # reading the inventory needs no role


def test_the_os_user_comes_from_the_process_not_from_user_variables(demo_copy: Workspace) -> None:
    import os

    from governance.identity import os_user

    _not_demo(demo_copy, '["auditor"]')
    env = {**os.environ, "USER": "mallory", "LOGNAME": "mallory", "USERNAME": "mallory", "COUNTERSIGN_ACTOR": ""}
    proc = subprocess.run([sys.executable, "-m", "countersign_cli", "ledger", "checkpoint", "--workspace",
                           str(demo_copy.root), "--json"], capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr
    from governance import ledger
    from governance.catalog import Catalog

    catalog = Catalog(demo_copy.catalog_path)
    assert ledger.entry(catalog, ledger.head(catalog)[0]).actor == f"os:{os_user()}" != "os:mallory"


def test_os_users_links_the_command_line_to_the_persons_sign_in(demo_copy: Workspace, capsys) -> None:
    """[os_users] alice = "alice@…": four eyes sees one person, whether in the portal or on the command line."""
    from countersign_cli.main import main
    from governance.identity import os_user

    _not_demo(demo_copy, None)
    with demo_copy.config_path.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[os_users]\n"{os_user()}" = "ml.engineer@{D}"\n')
    rid = _open_request(demo_copy)  # requested by ml.engineer@…
    capsys.readouterr()
    assert main(["cancel", rid, "--workspace", str(demo_copy.root), "--json"]) == 0  # their own request
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "cancelled"


def test_a_sign_in_claiming_an_os_key_gets_none_of_its_roles(demo_settings) -> None:
    from governance.identity import identity_for, os_identity, os_user

    assert identity_for(demo_settings, f"os:{os_user()}", source="header").roles == frozenset()
    assert os_identity(demo_settings, os_user()).roles == frozenset({"admin"})


def test_actor_still_works_on_the_demo(demo_copy: Workspace, capsys) -> None:
    from countersign_cli.main import main

    rid = _open_request(demo_copy)
    capsys.readouterr()
    assert main(["reject", rid, "--workspace", str(demo_copy.root), "--actor", f"risk.officer@{D}",
                 "--comment", "not yet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "rejected"
