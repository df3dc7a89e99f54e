"""ZenML accounts against a real ZenML 0.98.0 server (sqlite, 127.0.0.1), synced into a real catalog.

The server comes from the session fixture ``zenml_server`` (its own cached virtualenv); each test seeds its own
models through :class:`ZenMLDriver`, so tests do not depend on each other's data. The connector reads the API key
from the environment mapping it is given, as the portal does from ``os.environ``.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from connectors.base import AccountInfo
from connectors.zenml import ZenMLConnector, ZenMLSettings, forget_tokens
from core.errors import ArtifactMismatch, ConfigError, ConnectorError, InputError
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.identity import Identity
from governance.sync import sync
from tests.connectors.zenml_driver import ZenMLDriver

pytestmark = pytest.mark.timeout(900)  # the first test may build the server's virtualenv (~2 min) and start it
ACTOR = Identity("ml.engineer@example.com", frozenset({"ml_engineer"}), source="cli")
STAGES = {"staging": "staging", "production": "prod"}


@pytest.fixture
def driver(zenml_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ZenMLDriver:
    d = ZenMLDriver(zenml_server, tmp_path / "zenml-work", env_var=f"ZENML_KEY_{uuid.uuid4().hex[:6].upper()}")
    d.work.mkdir(parents=True)
    monkeypatch.setenv(d.env_var, zenml_server.api_key)  # the edge: countersign.toml names the variable
    return d


def connector(driver: ZenMLDriver, tmp_path: Path, *, environment: str = "dev", key: str | None = None,
              **extra) -> ZenMLConnector:
    settings = ZenMLSettings(url=driver.server.url, api_key_env=driver.env_var, artifact_root=str(driver.stores),
                             **extra)
    secrets = {driver.env_var: driver.server.api_key if key is None else key}
    return ZenMLConnector(settings, AccountInfo("zen", environment, secrets=secrets), root=tmp_path,
                          cache_dir=tmp_path / "cache")


def workspace(tmp_path: Path, driver: ZenMLDriver, **extra) -> tuple[Workspace, Catalog]:
    ws = Workspace(tmp_path / "ws")
    ws.ensure_dirs()
    ws.config_path.write_text(driver.toml(stage_environments=STAGES, **extra))
    catalog = Catalog(ws.catalog_path)
    catalog.migrate()
    return ws, catalog


def mine(snapshot, model: str) -> dict[int, object]:
    return {v.version: v for v in snapshot.versions if v.model == model}


def test_model_card_versions_and_stage_moves_between_syncs(driver: ZenMLDriver, tmp_path: Path) -> None:
    card = {"description": "Scores loan applications", "license": "Apache-2.0", "audience": "credit officers",
            "use_cases": "retail loan approval", "limitations": "EU applicants only",
            "trade_offs": "recall over precision", "ethics": "gender parity reviewed",
            "tags": ["risk_tier:high", "team:credit"]}
    model = driver.create_model(f"credit-{uuid.uuid4().hex[:4]}", **card)
    v1 = driver.add_version(model, metadata={"auc": 0.81, "dataset": "2026-10"})
    v2 = driver.add_version(model)
    con = connector(driver, tmp_path, stage_environments=STAGES)

    first = con.extract(None)
    assert first.complete and not first.issues
    got = mine(first, model["name"])
    assert sorted(got) == [1, 2]
    assert got[1].metrics == {"auc": 0.81} and got[1].metadata["dataset"] == "2026-10"
    assert got[1].labels == () and got[1].environment is None
    assert got[1].approval_status == "PendingManualApproval"  # ZenML OSS has no approvals
    record = next(m for m in first.models if m.name == model["name"])
    assert (record.description, record.intended_use, record.risk_tier) == (card["description"], card["use_cases"], "high")
    assert record.tags == {"risk_tier": "high", "team": "credit"}
    card_record = next(c for c in first.model_cards if c.model == model["name"])
    assert {k: card_record.content[k] for k in card if k != "tags"} == {k: v for k, v in card.items() if k != "tags"}

    # stage moves: v1 to production, then v2 to production (ZenML archives v1), v1 to staging
    driver.set_stage(v1["id"], "production")
    second = con.extract(first.watermark)
    assert not second.complete  # incremental: deletes nothing
    assert {v.version: (v.labels, v.environment) for v in second.versions if v.model == model["name"]} == {
        1: (("production",), "prod")}
    driver.set_stage(v2["id"], "production")
    third = con.extract(second.watermark)
    assert {n: (v.labels, v.environment) for n, v in mine(third, model["name"]).items()} == {
        1: (("archived",), None), 2: (("production",), "prod")}
    driver.set_stage(v1["id"], "staging")
    fourth = mine(con.extract(third.watermark), model["name"])
    assert {n: (v.labels, v.environment) for n, v in fourth.items()} == {1: (("staging",), "staging")}

    # a no-change re-sync returns nothing and makes only the listing calls
    quiet = con.extract(con.extract(None).watermark)
    assert not quiet.versions and not quiet.models and not quiet.runs and quiet.calls <= 6


def test_sync_into_catalog_marks_deleted_and_keeps_corrupt(driver: ZenMLDriver, tmp_path: Path) -> None:
    model = driver.create_model(description="fraud model")
    versions = [driver.add_version(model, metadata={"auc": 0.7 + i / 100}) for i in range(3)]
    ws, catalog = workspace(tmp_path, driver)
    report = sync(Context(ws, load_settings(ws), catalog, ACTOR))
    assert report.results[0].status == "ok", report.results[0].error
    rows = catalog.query_df("SELECT version, metadata FROM versions WHERE model = ? ORDER BY version", [model["name"]])
    assert list(rows["version"]) == [1, 2, 3]

    driver.corrupt(versions[0]["id"])
    driver.change_version(versions[1]["id"], approval="Approved", stage="staging")
    report = sync(Context(ws, load_settings(ws), catalog, ACTOR))
    result = report.results[0]
    assert result.status == "partial" and any(versions[0]["id"] in i and "Maybe" in i for i in result.issues)
    got = catalog.query_df("SELECT version, approval_status, json_extract_string(metadata, '$.\"zenml.stage\"') AS stage"
                           " FROM versions WHERE model = ? ORDER BY version", [model["name"]])
    assert got.to_dict("records")[1] == {"version": 2, "approval_status": "Approved", "stage": "staging"}
    assert list(got["version"]) == [1, 2, 3]  # the corrupt version is kept as it was

    driver.change_version(versions[0]["id"], approval="Rejected")
    driver.delete_version(versions[2]["id"])
    report = sync(Context(ws, load_settings(ws), catalog, ACTOR), full=True)
    assert report.results[0].status == "ok", report.results[0].issues
    got = catalog.query_df("SELECT version, approval_status FROM versions WHERE model = ? ORDER BY version",
                           [model["name"]])
    assert got.to_dict("records") == [{"version": 1, "approval_status": "Rejected"},
                                      {"version": 2, "approval_status": "Approved"}]


def test_pipeline_run_is_the_versions_run_with_its_stack_and_artifact(driver: ZenMLDriver, tmp_path: Path) -> None:
    model = driver.create_model(description="trained by a pipeline")
    out = driver.run_pipeline(model["name"], "trained")
    ws, catalog = workspace(tmp_path, driver)
    report = sync(Context(ws, load_settings(ws), catalog, ACTOR))
    assert report.results[0].status == "ok", report.results[0].issues
    version = catalog.version(f"zen:{model['name']}:1")
    assert version.run_id == f"zen:pipeline-run/{out['run_id']}"
    run = catalog.run(version.run_id)  # what the Model page's lineage shows
    assert run["status"] == "completed" and run["experiment"] == "training"
    assert run["params"]["train.learning_rate"] == "0.05"
    assert [s["name"] for s in run["raw"]["steps"]] == ["load_data", "train"]
    assert run["raw"]["stack"]["components"]["artifact_store"] == [{"name": "default", "flavor": "local"}]
    assert version.metrics == {"accuracy": 0.87, "auc": 0.91}
    assert version.artifact_uri == out["artifact_uri"] and "training_data" in version.data_uris

    from governance.sources import connector_for

    con = connector_for(ws, load_settings(ws), "zen")
    path = con.fetch(version.artifact_uri)
    original = Path(out["artifact_uri"]) / "data.json"
    assert path.read_bytes() == original.read_bytes()
    assert path.name.startswith(hashlib.sha256(original.read_bytes()).hexdigest())  # content-addressed
    with pytest.raises(InputError, match="outside the account's artifact_root"):
        con.fetch(str(tmp_path))


def test_revoked_key_and_expired_token(driver: ZenMLDriver, tmp_path: Path) -> None:
    key, key_id = driver.server.new_api_key()
    con = connector(driver, tmp_path, key=key)
    con.extract(None)
    # an expired token: the server answers 401, the connector logs in again once and goes on
    from connectors.zenml import client as module

    with module._TOKENS_LOCK:
        for k in module._TOKENS:
            module._TOKENS[k] = "expired.token.value"
    before = con.client.calls
    con.extract(None)
    assert con.client.calls > before
    driver.revoke_key(key_id)
    forget_tokens()
    with pytest.raises(ConnectorError, match=f"refused the API key in \\${driver.env_var}"):
        connector(driver, tmp_path, key=key).extract(None)
    with pytest.raises(ConfigError, match="empty or unset"):
        connector(driver, tmp_path, key="")


def test_promotion_moves_the_stage_once_per_request(driver: ZenMLDriver, tmp_path: Path) -> None:
    from connectors.base import PromotionRef

    model = driver.create_model()
    v1 = driver.add_version(model)
    driver.add_version(model)
    driver.set_stage(v1["id"], "production")
    staging = connector(driver, tmp_path, environment="staging", stage_environments=STAGES)
    prod = connector(driver, tmp_path, environment="prod", stage_environments=STAGES)
    source = mine(staging.extract(None), model["name"])[2]
    approved = staging.set_approval(source, "Approved", "four eyes: a@x, b@x")
    assert approved.approval_status == "Approved" and approved.approval_description == "four eyes: a@x, b@x"
    ref = PromotionRef(request_id="req-42", ledger_hash="ab" * 32, source_account="zen", source_ref=source.source_ref,
                       approved_by=("a@x", "b@x"))
    after = prod.register_copy(approved, staging, ref)
    assert after.source_ref == source.source_ref and after.labels == ("production",) and after.environment == "prod"
    assert after.metadata["countersign.request_id"] == "req-42"
    assert after.metadata["countersign.ledger_hash"] == "ab" * 32
    assert driver.version(v1["id"])["body"]["stage"] == "archived"
    again = prod.register_copy(approved, staging, ref)  # a retry changes nothing
    assert again.modified_at == after.modified_at


def link_model_artifact(driver: ZenMLDriver, version: dict, data: bytes) -> Path:
    """A model artifact folder in the local store, linked to ``version`` as a pipeline step would save it."""
    folder = driver.stores / version["id"] / "model"
    folder.mkdir(parents=True)
    (folder / "model.skops").write_bytes(data)
    project = driver.server.project_id
    artifact = driver._call("POST", "/artifact_versions", json={
        "artifact_name": f"model-{version['id'][:8]}", "project": project, "type": "ModelArtifact",
        "uri": str(folder), "save_type": "manual", "data_type": "builtins.bytes",
        "materializer": "zenml.materializers.built_in_materializer.BuiltInMaterializer"})
    driver._call("POST", "/model_version_artifacts",
                 json={"model_version": version["id"], "artifact_version": artifact["id"], "project": project})
    return folder


def test_a_stage_never_moves_onto_bytes_swapped_after_approval(driver: ZenMLDriver, tmp_path: Path) -> None:
    # the production stage is the deployment: the bytes it will point at are read again before it moves
    from connectors.base import PromotionRef

    model = driver.create_model()
    v1 = driver.add_version(model)
    folder = link_model_artifact(driver, v1, b"the approved model")
    staging = connector(driver, tmp_path, environment="staging", stage_environments=STAGES)
    prod = connector(driver, tmp_path, environment="prod", stage_environments=STAGES)
    source = mine(staging.extract(None), model["name"])[1]
    approved = source.artifact_sha256
    assert approved and source.artifact_digest_source == "countersign"
    (folder / "model.skops").write_bytes(b"another model, written over the approved one")
    ref = PromotionRef("req-swap", "ab" * 32, "zen", source.source_ref, ("a@x", "b@x"), artifact_sha256=approved)
    with pytest.raises(ArtifactMismatch) as err:
        prod.register_copy(source, staging, ref)
    assert err.value.expected == approved and err.value.found != approved and "stage 'production'" in str(err.value)
    assert driver.version(v1["id"])["body"]["stage"] in (None, "none")  # the stage did not move
    # the next sync records the change of digest
    assert mine(staging.extract(None, full=True), model["name"])[1].artifact_sha256 == err.value.found


def test_three_hundred_versions_are_paged(driver: ZenMLDriver, tmp_path: Path) -> None:
    model = driver.create_model()
    for _ in range(300):
        driver.add_version(model)
    con = connector(driver, tmp_path, page_size=40)
    snap = con.extract(None)
    assert sorted(mine(snap, model["name"])) == list(range(1, 301))
    assert snap.calls >= 300 // 40 + 1
