"""MLflow webhooks from a real MLflow 3.17.2 server (SQL backend) to ``countersign listen``.

MLflow 3.17.2 delivers webhooks itself (``mlflow/webhooks/delivery.py``): the test server allows a listener on
loopback over HTTP (``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS``, ``MLFLOW_WEBHOOK_ALLOWED_SCHEMES``; see
tests/servers/mlflow_server.py), so nothing here stands in for MLflow. Signatures are also checked against MLflow's
own signing function, run in the server's virtualenv (an independent oracle).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from connectors.mlflow_events import sign
from governance.catalog import Catalog
from governance.catalog.prepare import prepare_catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import identity_for
from governance.listen import build_listener
from governance.sync import sync
from tests.connectors.mlflow_driver import MlflowDriver, unique, write_workspace
from tests.connectors.test_listen_sagemaker import wait_for
from tests.servers.mlflow_server import venv_dir

SECRET = "s3cr3t-webhook-key"
ACCOUNT = "mlflow-prod"


def open_ctx(root: Path) -> Context:
    ws = Workspace(root)
    settings = load_settings(ws)
    catalog = prepare_catalog(Catalog(ws.catalog_path), settings)
    return Context(ws, settings, catalog, identity_for(settings, "ml.engineer@example.com", source="cli"))


def poll(ctx: Context) -> None:
    report = sync(ctx, accounts=[ACCOUNT])
    assert report.ok, report


@pytest.fixture
def world(mlflow_servers, tmp_path: Path):
    server = mlflow_servers[0]
    driver = MlflowDriver(server)
    model = unique("fraud")
    driver.create_model(model)
    driver.add_version(model)
    driver.add_version(model)
    driver.set_alias(model, "champion", 1)
    root = write_workspace(tmp_path / "ws", {ACCOUNT: {"environment": "staging", "tracking_uri": server.url,
                                                       "alias_environments": {"champion": "prod"}}})
    (root / "countersign.toml").write_text((root / "countersign.toml").read_text()
                                           + "\n[listen]\nsettle_seconds = 0.3\n")
    ctx = open_ctx(root)
    listener = build_listener(ctx, {"COUNTERSIGN_WEBHOOK_SECRET": SECRET}).start(port=0)
    yield ctx, listener, driver, model
    listener.stop()
    driver.close()


def register(driver: MlflowDriver, url: str) -> str:
    hook = driver.post("webhooks", {
        "name": f"countersign-{uuid.uuid4().hex[:6]}", "url": url, "secret": SECRET,
        "events": [{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"},
                   {"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"}]})["webhook"]
    time.sleep(1.2)  # MLflow caches the list of webhooks per event (MLFLOW_WEBHOOK_CACHE_TTL, 1 s on the test server)
    return hook["webhook_id"]


def states(ctx: Context, model: str, version: int) -> list[tuple[list[str], str, str]]:
    rows = ctx.catalog.query_dicts("SELECT labels, environment, change_source FROM version_history "
                                   "WHERE version_id = ? ORDER BY valid_from, history_id",
                                   [f"{ACCOUNT}:{model}:{version}"])
    return [(json.loads(r["labels"]), r["environment"], r["change_source"]) for r in rows]


def test_an_alias_moved_and_moved_back_between_two_polls_appears_twice(world) -> None:
    ctx, listener, driver, model = world
    poll(ctx)  # the first poll: v1 holds champion (prod)
    hook = register(driver, f"{listener.url}/webhooks/mlflow/{ACCOUNT}")
    try:
        driver.set_alias(model, "champion", 2)  # a deployment that lasted a moment
        driver.set_alias(model, "champion", 1)
        wait_for("both deliveries applied", lambda: listener.counts.snapshot().get("applied", 0) >= 2)
        wait_for("the syncs they triggered", lambda: listener.counts.snapshot().get("syncs", 0) >= 1)
        poll(ctx)  # the second poll sees what the first saw: only the events know what happened between
    finally:
        driver.request("DELETE", f"webhooks/{hook}")
    assert states(ctx, model, 2) == [([], "staging", "sync"), (["champion"], "prod", "event"),
                                     ([], "staging", "event")]
    assert states(ctx, model, 1) == [(["champion"], "prod", "sync"), ([], "staging", "event"),
                                     (["champion"], "prod", "event")]
    held = ctx.catalog.query_dicts(
        "SELECT valid_from, valid_to, confidence FROM version_history WHERE version_id = ? AND change_source = 'event' "
        "AND labels LIKE '%champion%'", [f"{ACCOUNT}:{model}:2"])[0]
    assert held["valid_to"] > held["valid_from"] and held["confidence"] == "exact"
    assert listener.counts.snapshot().get("refused", 0) == 0  # MLflow's own signatures verified


def mlflow_signature(delivery_id: str, timestamp: int, body: bytes) -> str:
    """MLflow's own signing function (the server's virtualenv): the oracle for our verification."""
    code = ("import sys; from mlflow.webhooks.delivery import _generate_hmac_signature as s; "
            "print(s(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]))")
    out = subprocess.run([str(venv_dir() / "bin" / "python"), "-c", code, SECRET, delivery_id, str(timestamp),
                          body.decode()], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def deliver(listener, body: bytes, *, signature: str, delivery_id: str, timestamp: int) -> httpx.Response:
    return httpx.post(f"{listener.url}/webhooks/mlflow/{ACCOUNT}", content=body, headers={
        "Content-Type": "application/json", "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": str(timestamp), "X-MLflow-Signature": signature})


def test_a_bad_signature_a_replay_and_an_oversized_body_are_refused(world) -> None:
    ctx, listener, _, model = world
    body = json.dumps({"entity": "model_version_alias", "action": "created", "timestamp": "2026-12-07T10:00:00+00:00",
                       "data": {"name": model, "alias": "champion", "version": "2"}}).encode()
    now = int(time.time())
    good = mlflow_signature("d-1", now, body)
    assert good == sign(SECRET, "d-1", now, body)  # our signing agrees with MLflow's

    forged = deliver(listener, body, signature=sign("not-the-secret", "d-1", now, body), delivery_id="d-1",
                     timestamp=now)
    assert forged.status_code == 401 and "signature" in forged.json()["error"]
    tampered = deliver(listener, body.replace(b'"2"', b'"1"'), signature=good, delivery_id="d-1", timestamp=now)
    assert tampered.status_code == 401
    stale = now - 3600
    replayed = deliver(listener, body, signature=mlflow_signature("d-1", stale, body), delivery_id="d-1",
                       timestamp=stale)
    assert replayed.status_code == 401 and "replay" in replayed.json()["error"]
    huge = b"{" + b" " * (ctx.settings.listen.max_body_bytes + 1) + b"}"
    assert deliver(listener, huge, signature=sign(SECRET, "d-2", now, huge), delivery_id="d-2",
                   timestamp=now).status_code == 413
    assert ctx.catalog.query_dicts("SELECT * FROM history_events") == []  # nothing refused was stored

    first = deliver(listener, body, signature=good, delivery_id="d-1", timestamp=now)
    again = deliver(listener, body, signature=good, delivery_id="d-1", timestamp=now)  # MLflow's retry, or a replay
    assert (first.json()["status"], again.json()["status"]) == ("recorded", "duplicate")
    assert len(ctx.catalog.query_dicts("SELECT * FROM history_events")) == 1
    assert listener.counts.snapshot()["refused"] == 4 and listener.health()[0] == 200


def test_an_mlflow_backfill_reads_registry_timestamps_and_labels_the_unknown_as_gaps(mlflow_servers, tmp_path,
                                                                                      capsys) -> None:
    from countersign_cli.main import main
    from governance.identity import os_user

    server = mlflow_servers[0]
    driver = MlflowDriver(server)
    model = unique("churn")
    driver.create_model(model)
    driver.add_version(model)
    time.sleep(1.1)
    driver.change_version(model, 1, description="edited after creation")  # moves last_updated_timestamp
    root = write_workspace(tmp_path / "ws", {ACCOUNT: {"environment": "prod", "tracking_uri": server.url}})
    config = root / "countersign.toml"
    config.write_text(config.read_text().replace("[roles]\n", f'[roles]\n"os:{os_user()}" = ["ml_engineer"]\n'))
    ctx = open_ctx(root)
    poll(ctx)
    created = driver.version(model, 1)["creation_timestamp"] / 1000
    vid = f"{ACCOUNT}:{model}:1"

    assert main(["backfill", "--workspace", str(root), "--account", ACCOUNT, "--cloudtrail", "s3://x/y"]) == 2
    assert "SageMaker" in capsys.readouterr().err
    assert main(["backfill", "--workspace", str(root), "--account", ACCOUNT, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sources"] == [] and result["reach"] is None  # registry timestamps date no state
    gap = ctx.catalog.query_dicts("SELECT * FROM history_gaps WHERE version_id = ?", [vid])
    assert len(gap) == 1 and gap[0]["reason"] == "state unknown" and gap[0]["source"] == "registry timestamp"
    assert abs(gap[0]["gap_from"].replace(tzinfo=dt.UTC).timestamp() - created) < 0.01  # the creation time
    between = gap[0]["gap_from"] + (gap[0]["gap_to"] - gap[0]["gap_from"]) / 2
    capsys.readouterr()
    assert main(["models", "--workspace", str(root), "--as-of", between.isoformat(), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # the server is shared by the session: other tests' models are listed too, this one must not be
    assert not [v for v in doc["versions"] if v["model"] == model]
    assert any(vid in g and "state unknown" in g for g in doc["gaps"])
    driver.close()


def test_a_webhook_secret_for_a_several_workspace_account_is_refused(tmp_path: Path) -> None:
    # webhooks name a model without its workspace: a several-workspace account could not tell risk/credit from
    # retail/credit, so it takes none (polled by sync instead), said in one line
    from core.errors import ConfigError

    root = write_workspace(tmp_path / "ws", {ACCOUNT: {"environment": "prod", "tracking_uri": "http://127.0.0.1:9",
                                                       "workspaces": ["risk", "retail"]}})
    ctx = open_ctx(root)
    variable = ctx.settings.listen.secret_variable(ACCOUNT)
    with pytest.raises(ConfigError, match="workspace"):
        build_listener(ctx, {variable: SECRET})
