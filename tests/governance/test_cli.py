"""The countersign CLI: exit status 0 / 1 / 2, one-line reasons, and the --json shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from governance.config import Workspace


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "governance.cli", *args], capture_output=True, text=True,
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
