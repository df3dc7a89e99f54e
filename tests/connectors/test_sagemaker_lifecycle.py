"""SageMaker's 2025 registry features against a moto server: a package's ``ModelLifeCycle`` read into its label
history and written back beside ``ModelApprovalStatus`` when a promotion executes (stage = the target environment),
and the Model Registry Collections a group is in shown in the inventory.

moto 5.2.5 keeps no ``ModelLifeCycle``: :class:`tests.connectors.lifecycle.LifeCycleStandIn` in the fault proxy
keeps it, as AWS does, and adds it to moto's answers (the one boundary no local server plays).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from governance.config import load_settings
from governance.context import Context
from governance.execution import execute
from governance.history import version_history
from governance.identity import identity_for
from governance.promotion import approve, create_request
from tests.connectors import sagemaker_seed as seed
from tests.connectors.lifecycle import LifeCycleStandIn
from tests.connectors.test_sagemaker_changes import small
from tests.connectors.test_sagemaker_promote import packages
from tests.connectors.test_sagemaker_sync import make_workspace, run_sync


def through_proxy(account: str, proxy) -> object:
    """A SageMaker client of ``account`` whose calls pass the fault proxy (so the stand-in sees them)."""
    return seed.session_for(seed.ACCOUNTS[account][0]).client("sagemaker", endpoint_url=proxy.url, config=seed.FAST)


def executed_to_prod(ws, catalog, version_id: str):
    """A request to promote ``version_id`` to prod, approved by a second person, then executed: the request."""
    settings = load_settings(ws)
    engineer = identity_for(settings, "ml.engineer@example.com", source="cli")
    officer = identity_for(settings, "risk.officer@example.com", source="cli")
    rid = create_request(Context(ws, settings, catalog, engineer), version_id, "prod", "to prod").request_id
    assert approve(Context(ws, settings, catalog, officer), rid, "reviewed").status == "approved"
    return execute(Context(ws, settings, catalog, officer), rid)


@pytest.fixture
def staged(aws_env, fault_proxy, aws_profiles, tmp_path: Path):
    """Staging and prod both reached through the fault proxy with the ModelLifeCycle stand-in in it."""
    stand = LifeCycleStandIn(fault_proxy)
    aws_profiles({"staging": fault_proxy.url, "prod": fault_proxy.url})
    ws, catalog = make_workspace(tmp_path, {"ml-staging": {"profile": "staging"}, "ml-prod": {"profile": "prod"}})
    return stand, ws, catalog


def test_a_life_cycle_stage_is_read_and_every_change_kept_in_history(staged, fault_proxy) -> None:
    _stand, ws, catalog = staged
    sc = small("ml-staging", {"fraud-score": 1}, docs=False)
    (sv,) = sc.versions
    sm = through_proxy("ml-staging", fault_proxy)
    meta = sm.describe_model_package(ModelPackageName=sv.arn)["CustomerMetadataProperties"]
    sm.update_model_package(ModelPackageArn=sv.arn, ModelApprovalStatus=sv.status, CustomerMetadataProperties=meta,
                            ModelLifeCycle={"Stage": "staging", "StageStatus": "PendingApproval",
                                            "StageDescription": "shadow traffic"})
    assert run_sync(ws, catalog, accounts=["ml-staging"], full=True).results[0].status == "ok"
    vid = f"ml-staging:fraud-score:{sv.version}"
    assert list(catalog.version(vid).labels) == ["staging/PendingApproval"]

    # a stage change alone (status untouched) is a change an incremental sync sees
    sm.update_model_package(ModelPackageArn=sv.arn, ModelApprovalStatus=sv.status, CustomerMetadataProperties=meta,
                            ModelLifeCycle={"Stage": "staging", "StageStatus": "Approved"})
    assert run_sync(ws, catalog, accounts=["ml-staging"]).results[0].status == "ok"
    labels = [s["labels"] for s in version_history(catalog, vid)["states"]]
    assert labels == [["staging/PendingApproval"], ["staging/Approved"]]


def test_execution_writes_the_life_cycle_beside_the_approval(staged, fault_proxy) -> None:
    stand, ws, catalog = staged
    sc = seed.Scenario()
    sm_s, s3_s = seed.clients(seed.ACCOUNTS["ml-staging"][0])
    seed.seed_group(sm_s, s3_s, sc, "ml-staging", "credit-approval", 2)
    _, s3_p = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    seed.ensure_bucket(s3_p, seed.bucket_for(seed.ACCOUNTS["ml-prod"][0]))
    assert run_sync(ws, catalog, accounts=["ml-staging"]).results[0].status == "ok"
    src = next(v for v in sc.versions if v.status != "Approved")
    r = executed_to_prod(ws, catalog, f"ml-staging:credit-approval:{src.version}")
    rid = r.request_id
    assert r.status == "executed", r.execution_error

    source_stage = stand.stages[src.arn]
    assert source_stage["Stage"] == "prod" and source_stage["StageStatus"] == "Approved"
    assert rid in source_stage["StageDescription"]
    desc = sm_s.describe_model_package(ModelPackageName=src.arn)  # moto's own state: the approval beside it
    assert desc["ModelApprovalStatus"] == "Approved" and desc["CustomerMetadataProperties"]["team"] == "risk-ml"
    sm_p, _ = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    (copy,) = packages(sm_p, "credit-approval")
    assert stand.stages[copy["ModelPackageArn"]]["Stage"] == "prod"
    assert run_sync(ws, catalog, accounts=["ml-prod"]).results[0].status == "ok"
    assert list(catalog.version(r.target_version_id).labels) == ["prod/Approved"]


def test_a_stage_the_role_may_not_write_fails_the_execution_in_one_line(staged, fault_proxy) -> None:
    stand, ws, catalog = staged
    sc = small("ml-staging", {"credit-approval": 2})
    assert run_sync(ws, catalog, accounts=["ml-staging"]).results[0].status == "ok"
    src = next(v for v in sc.versions if v.status != "Approved")
    # AWS accepts the call but an IAM condition on sagemaker:ModelLifeCycle:stage keeps the old stage: the
    # stand-in forgets what it was sent
    fault_proxy.on_request("UpdateModelPackage", lambda body: None)
    r = executed_to_prod(ws, catalog, f"ml-staging:credit-approval:{src.version}")
    assert r.status == "failed" and r.execution_state != "source_approved"
    assert "ModelLifeCycle" in r.execution_error and "\n" not in r.execution_error
    assert src.arn not in stand.stages


def test_the_collections_a_group_is_in_show_in_the_inventory(aws_env, tmp_path: Path) -> None:
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-dev"][0])
    sc = seed.Scenario()
    seed.seed_group(sm, s3, sc, "ml-dev", "churn", 1, docs=False)
    seed.seed_group(sm, s3, sc, "ml-dev", "loose", 1, docs=False)
    group_arn = sm.describe_model_package_group(ModelPackageGroupName="churn")["ModelPackageGroupArn"]
    # what the SageMaker SDK's Collection.add_model_groups does: the collection's tag rule on the group
    sm.add_tags(ResourceArn=group_arn, Tags=[{"Key": "sagemaker:collection-path:1733580000000", "Value": "retail"},
                                            {"Key": "sagemaker:collection-path:1733580000001",
                                             "Value": "retail/churn-models"}])
    ws, catalog = make_workspace(tmp_path)
    assert run_sync(ws, catalog, accounts=["ml-dev"], full=True).results[0].status == "ok"
    rows = {r["model"]: r for r in catalog.inventory_rows()}
    assert rows["churn"]["collections"] == ["retail", "retail/churn-models"]
    assert rows["loose"]["collections"] == []
    assert list(catalog.inventory()["collections"]) in (
        [["retail", "retail/churn-models"], []], [[], ["retail", "retail/churn-models"]])


@pytest.mark.timeout(600)
def test_a_managed_mlflow_version_and_its_model_package_are_one_inventory_line(aws_env, mlflow_servers,
                                                                                tmp_path: Path) -> None:
    from tests.connectors.mlflow_driver import MlflowDriver, unique

    driver = MlflowDriver(mlflow_servers[0])
    name = unique("credit")
    driver.create_model(name)
    for _ in range(3):
        driver.add_version(name)
    driver.set_alias(name, "champion", 3)
    account_id = seed.ACCOUNTS["ml-staging"][0]
    server_arn = f"arn:aws:sagemaker:{seed.REGION}:{account_id}:mlflow-tracking-server/risk-mlflow"
    # the group SageMaker's automatic registration names (AWS: model name + 6 hex of SHA-256 of the server name)
    group = f"{name}-{hashlib.sha256(b'risk-mlflow').hexdigest()[:6]}"
    sc = seed.Scenario()
    sm, s3 = seed.clients(account_id)
    _v1, v2, v3 = seed.seed_group(sm, s3, sc, "ml-staging", group, 3, docs=False)
    seed.seed_group(sm, s3, sc, "ml-staging", "unrelated", 1, docs=False)
    seed.seed_endpoint(sm, s3, sc, "ml-staging", "credit-live", v2)  # SageMaker serves the v2 package
    seed.seed_endpoint(sm, s3, sc, "ml-staging", "credit-shadow", v3)  # and v3, which MLflow calls champion
    extra = (f'[[accounts]]\nname = "ml-mlflow"\nconnector = "mlflow"\nenvironment = "staging"\n'
             f'tracking_uri = "{driver.server.url}"\nsagemaker_arn = "{server_arn}"\n')
    ws, catalog = make_workspace(tmp_path)
    ws.config_path.write_text(seed.workspace_toml(extra=extra))
    report = run_sync(ws, catalog, accounts=["ml-staging", "ml-mlflow"], full=True)
    # the MLflow server is shared by the session: another test's model may leave an issue on that account (partial),
    # none may concern this test's model
    status = {r.account: r for r in report.results}
    assert status["ml-staging"].status == "ok" and status["ml-mlflow"].status in ("ok", "partial"), report
    assert not [i for i in status["ml-mlflow"].issues if name in i], report
    rows = {r["version_id"]: r for r in catalog.inventory_rows()}
    frame = catalog.inventory()

    sm_v1, sm_v2 = f"ml-staging:{group}:1", f"ml-staging:{group}:2"
    ml_v1, ml_v2 = f"ml-mlflow:{name}:1", f"ml-mlflow:{name}:2"
    # v1: one line, MLflow's, naming its package; v2: one line, the served package's, naming the MLflow version
    # (a line carrying a deployment or a label is never the one hidden)
    assert rows[ml_v1]["twin_version_id"] == sm_v1 and sm_v1 not in rows
    assert rows[sm_v2]["twin_version_id"] == ml_v2 and ml_v2 not in rows
    assert rows[sm_v2]["deployed_on"] == "credit-live"
    # v3: the MLflow line holds the alias, the package line the endpoint: each stays, for the binding check
    assert rows[f"ml-mlflow:{name}:3"]["labels"] == ["champion"] and rows[f"ml-mlflow:{name}:3"]["twin_version_id"] is None
    assert rows[f"ml-staging:{group}:3"]["deployed_on"] == "credit-shadow"
    assert rows["ml-staging:unrelated:1"]["twin_version_id"] is None
    assert set(frame["version_id"]) == set(rows)
    assert dict(zip(frame["version_id"], frame["twin_version_id"], strict=True))[ml_v1] == sm_v1
    driver.close()
