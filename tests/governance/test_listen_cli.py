"""``countersign listen`` as a process: it reports its health, survives what it cannot apply, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from connectors.mlflow_events import sign
from governance.catalog import Catalog
from governance.identity import os_user

CONFIG = """
[environments]
order = ["dev", "prod"]

[[accounts]]
name = "mlflow-prod"
environment = "prod"
connector = "mlflow"
tracking_uri = "http://127.0.0.1:9"

[roles]
"os:{user}" = ["ml_engineer"]

[listen]
settle_seconds = 0.1
"""


def start(root: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "countersign_cli", "listen", "--workspace", str(root), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COUNTERSIGN_WORKSPACE": "", **env})


def test_listen_answers_health_records_a_delivery_and_stops_on_sigterm(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "countersign.toml").write_text(CONFIG.format(user=os_user()))
    proc = start(root, COUNTERSIGN_WEBHOOK_SECRET="k3y")
    try:
        line = proc.stdout.readline()
        url = line.split()[2]
        health = httpx.get(f"{url}/health", timeout=5)
        assert health.status_code == 200 and health.json()["mlflow_accounts"] == ["mlflow-prod"]
        body = json.dumps({"entity": "model_version_alias", "action": "created",
                           "timestamp": "2026-12-07T10:00:00+00:00",
                           "data": {"name": "fraud", "alias": "champion", "version": "1"}}).encode()
        now = int(time.time())
        answer = httpx.post(f"{url}/webhooks/mlflow/mlflow-prod", content=body, timeout=5, headers={
            "X-MLflow-Delivery-Id": "d-9", "X-MLflow-Timestamp": str(now),
            "X-MLflow-Signature": sign("k3y", "d-9", now, body)})
        assert answer.json() == {"event_id": "mlflow:mlflow-prod:d-9", "status": "recorded"}
        assert httpx.post(f"{url}/webhooks/mlflow/nobody", content=b"{}", timeout=5).status_code == 404
        time.sleep(1.0)  # applied (the version is unknown: the sync gets the hint, and fails on the dead server)
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200  # still up
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped" in err
    stored = Catalog(root / "catalog.duckdb").query_dicts("SELECT event_id, status FROM history_events")
    assert stored == [{"event_id": "mlflow:mlflow-prod:d-9", "status": "waiting sync"}]


def test_listen_with_nothing_to_listen_to_says_what_to_set(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "countersign.toml").write_text(CONFIG.format(user=os_user()))
    proc = start(root)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "COUNTERSIGN_WEBHOOK_SECRET" in err and "Traceback" not in err
