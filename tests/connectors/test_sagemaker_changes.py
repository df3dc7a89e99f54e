"""Changes at the source between syncs, broken documents, and a sync killed mid-way (each on a small fresh seed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.connectors import sagemaker_seed as seed
from tests.connectors.test_sagemaker_sync import ROOT, last_runs, make_workspace, run_sync, versions


def small(account: str, groups: dict[str, int], *, docs: bool = True, **kw) -> seed.Scenario:
    sc = seed.Scenario()
    sm, s3 = seed.clients(seed.ACCOUNTS[account][0])
    for group, n in groups.items():
        seed.seed_group(sm, s3, sc, account, group, n, docs=docs, **kw)
    return sc


def new_package(sm, group: str, uri: str) -> str:
    return sm.create_model_package(
        ModelPackageGroupName=group, ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": seed.IMAGE, "ModelDataUrl": uri}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]


def test_incremental_sync_sees_new_and_changed_versions(aws_env, tmp_path: Path) -> None:
    sc = small("ml-staging", {"credit-approval": 3, "repair-cost": 2})
    ws, catalog = make_workspace(tmp_path)
    first = run_sync(ws, catalog, accounts=["ml-staging"]).results[0]
    assert first.status == "ok", first
    sm, _ = seed.clients(seed.ACCOUNTS["ml-staging"][0])
    pending = next(v for v in sc.versions if v.status == "PendingManualApproval")
    meta = sm.describe_model_package(ModelPackageName=pending.arn)["CustomerMetadataProperties"]
    sm.update_model_package(ModelPackageArn=pending.arn, ModelApprovalStatus="Approved",
                            ApprovalDescription="ok by validation", CustomerMetadataProperties=meta)
    new_arn = new_package(sm, "repair-cost", "s3://x/new.tar.gz")
    before = versions(catalog).set_index("version_id")

    report = run_sync(ws, catalog, accounts=["ml-staging"])
    assert report.results[0].status == "ok", report.results[0]
    run = last_runs(catalog, report)["ml-staging"]
    assert not run["full_sync"], run
    assert json.loads(run["counts"])["versions"] == {"added": 1, "updated": 1, "unchanged": 0, "deleted": 0}, run
    after = versions(catalog).set_index("version_id")
    changed_id = f"ml-staging:{pending.group}:{pending.version}"
    assert after.loc[changed_id, "approval_status"] == "Approved"
    assert after.loc[changed_id, "approval_description"] == "ok by validation"
    assert after.loc["ml-staging:repair-cost:3", "source_ref"] == new_arn
    untouched = [i for i in before.index if i != changed_id]
    assert after.loc[untouched, "record_hash"].equals(before.loc[untouched, "record_hash"])
    # only the two changed packages were described again
    assert run["calls"] < len(sc.versions) + 8, run


def test_full_sync_notices_deletions_incremental_keeps_rows(aws_env, tmp_path: Path) -> None:
    sc = small("ml-prod", {"repair-cost": 2})
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    seed.seed_endpoint(sm, s3, sc, "ml-prod", "repair-a", sc.versions[0])
    seed.seed_endpoint(sm, s3, sc, "ml-prod", "repair-b", sc.versions[1])
    ws, catalog = make_workspace(tmp_path)
    run_sync(ws, catalog, accounts=["ml-prod"])
    sm.delete_endpoint(EndpointName="repair-b")
    run_sync(ws, catalog, accounts=["ml-prod"])
    assert set(catalog.deployments().endpoint) == {"repair-a", "repair-b"}
    run_sync(ws, catalog, accounts=["ml-prod"], full=True)
    assert set(catalog.deployments().endpoint) == {"repair-a"}
    assert len(versions(catalog)) == 2


def test_model_tag_names_the_logical_model(aws_env, tmp_path: Path) -> None:
    small("ml-dev", {"cf-training-pipeline": 2}, docs=False, tags={"countersign:model": "claims-fraud"})
    ws, catalog = make_workspace(tmp_path, {"ml-dev": {"model_tag": "countersign:model"}})
    run_sync(ws, catalog, accounts=["ml-dev"])
    assert sorted(versions(catalog).version_id) == ["ml-dev:claims-fraud:1", "ml-dev:claims-fraud:2"]
    # the next incremental sync remembers the mapping without reading the tags again
    sm, _ = seed.clients(seed.ACCOUNTS["ml-dev"][0])
    new_package(sm, "cf-training-pipeline", "s3://x/3.tar.gz")
    run_sync(ws, catalog, accounts=["ml-dev"])
    assert "ml-dev:claims-fraud:3" in set(versions(catalog).version_id)


def test_malformed_metrics_document_is_an_issue_not_a_failure(aws_env, tmp_path: Path) -> None:
    sc = small("ml-staging", {"credit-approval": 3})
    small("ml-prod", {"credit-approval": 1})
    victim = sc.versions[1]
    _, s3 = seed.clients(seed.ACCOUNTS["ml-staging"][0])
    bucket, key = victim.report_uris["model_metrics"][5:].split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=b'{"binary_classification_metrics": {"auc": ')
    ws, catalog = make_workspace(tmp_path)
    report = {r.account: r for r in run_sync(ws, catalog, accounts=["ml-staging", "ml-prod"]).results}
    assert report["ml-staging"].status == "partial"
    assert any(victim.arn in i and "malformed" in i for i in report["ml-staging"].issues)
    assert report["ml-prod"].status == "ok"
    rows = versions(catalog).set_index("version_id")
    assert json.loads(rows.loc[f"ml-staging:{victim.group}:{victim.version}", "metrics"]) == {}
    for v in sc.versions:
        if v is not victim:
            assert json.loads(rows.loc[f"ml-staging:{v.group}:{v.version}", "metrics"]) == pytest.approx(v.metrics)
    # the version with the issue is looked at again by the next incremental sync, which reads the fixed document
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(seed.quality_doc(0.77, 0.88)).encode())
    assert run_sync(ws, catalog, accounts=["ml-staging"]).results[0].status == "ok"
    assert catalog.version(f"ml-staging:{victim.group}:{victim.version}").metrics == {"auc": 0.77, "accuracy": 0.88}


KILL_SCRIPT = """
import sys
from pathlib import Path
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.identity import Identity
from governance.context import Context
from governance.sync import sync
ws = Workspace(Path(sys.argv[1]))
sync(Context(ws, load_settings(ws), Catalog(ws.catalog_path), Identity("ml.engineer@example.com",
     frozenset({"ml_engineer"}))), full=True)
"""


def test_killed_mid_sync_leaves_previous_state_and_rerun_completes(aws_env, fault_proxy, aws_profiles, tmp_path):
    sc = small("ml-dev", {"claims-fraud": 30}, docs=False)  # the other accounts are empty
    aws_profiles({"dev": fault_proxy.url})
    ws, catalog = make_workspace(tmp_path, {"ml-dev": {"profile": "dev"}})
    run_sync(ws, catalog)
    digest, runs_before = catalog.table_digest(), len(catalog.sync_runs())
    sm, _ = seed.clients(seed.ACCOUNTS["ml-dev"][0])
    target = next(v for v in sc.versions if v.status == "Rejected")
    sm.update_model_package(ModelPackageArn=target.arn, ModelApprovalStatus="Approved", ApprovalDescription="re-run")
    fault_proxy.delay("DescribeModelPackage", 0.1)
    start = fault_proxy.count("DescribeModelPackage")
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(ws.root)], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while fault_proxy.count("DescribeModelPackage") < start + 5 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the empty accounts may have committed their (empty) syncs; ml-dev's half-read state must not exist
    assert catalog.table_digest() == digest
    dev_runs = catalog.sync_runs("ml-dev")
    assert len(dev_runs) == 1 and runs_before >= 2
    fault_proxy.rules.clear()
    report = run_sync(ws, catalog)
    assert all(r.status == "ok" for r in report.results)
    assert catalog.version(f"ml-dev:{target.group}:{target.version}").approval_status == "Approved"
    assert len(versions(catalog)) == 30


def test_incremental_sync_follows_an_endpoint_to_its_new_version(aws_env, tmp_path: Path) -> None:
    sc = small("ml-prod", {"credit-approval": 2})
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    old, new = sc.versions
    seed.seed_endpoint(sm, s3, sc, "ml-prod", "live", old, capture_rows=[[1.0, 2.0, 3.0, 4.0]] * 2)
    ws, catalog = make_workspace(tmp_path)
    run_sync(ws, catalog, accounts=["ml-prod"])
    assert "current" in catalog.version("ml-prod:credit-approval:1").data_uris
    assert catalog.deployments().version_id.tolist() == ["ml-prod:credit-approval:1"]

    # blue/green by hand: the endpoint is re-created on the next version (moto has no UpdateEndpoint)
    sm.delete_endpoint(EndpointName="live")
    sm.create_model(ModelName="live-v2", ExecutionRoleArn=seed.role_arn(seed.ACCOUNTS["ml-prod"][0], "Exec"),
                    PrimaryContainer={"ModelPackageName": new.arn})
    sm.create_endpoint_config(EndpointConfigName="live-v2-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "live-v2", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": f"s3://{seed.bucket_for(seed.ACCOUNTS['ml-prod'][0], 'capture')}/dc",
                           "CaptureOptions": [{"CaptureMode": "Input"}]})
    sm.create_endpoint(EndpointName="live", EndpointConfigName="live-v2-config")

    report = run_sync(ws, catalog, accounts=["ml-prod"])
    assert report.results[0].status == "ok"
    assert not last_runs(catalog, report)["ml-prod"]["full_sync"]
    assert catalog.deployments().version_id.tolist() == ["ml-prod:credit-approval:2"]
    assert "current" not in catalog.version("ml-prod:credit-approval:1").data_uris
    assert catalog.version("ml-prod:credit-approval:2").data_uris["current"].startswith("capture+s3://")
    assert "/dc/live/AllTraffic/" in catalog.version("ml-prod:credit-approval:2").data_uris["current"]


def test_a_resync_reuses_the_session_and_a_failed_one_assumes_the_role_again(
    aws_env, fault_proxy, aws_profiles, tmp_path: Path
) -> None:
    small("ml-dev", {"claims-fraud": 2}, docs=False)
    aws_profiles({"dev-via-proxy": fault_proxy.url})
    ws, catalog = make_workspace(tmp_path, {"ml-dev": {"profile": "dev-via-proxy"}})
    assert run_sync(ws, catalog, accounts=["ml-dev"]).results[0].status == "ok"
    assert fault_proxy.count("AssumeRole") == 1
    # the portal's next "Sync now": same process, same settings → the same credentials, no new AssumeRole
    seen = len(fault_proxy.seen)
    again = run_sync(ws, catalog, accounts=["ml-dev"]).results[0]
    assert again.status == "ok" and fault_proxy.count("AssumeRole") == 1
    assert again.calls == len(fault_proxy.seen) - seen  # its own calls only, not the first sync's as well
    # a sync that fails drops the shared session: the next one authenticates afresh
    fault_proxy.fail("ListModelPackageGroups", status=403, code="ExpiredTokenException", times=1)
    assert run_sync(ws, catalog, accounts=["ml-dev"]).results[0].status == "failed"
    assert run_sync(ws, catalog, accounts=["ml-dev"]).results[0].status == "ok"
    assert fault_proxy.count("AssumeRole") == 2


def test_a_metadata_only_edit_reaches_the_catalog_on_the_scheduled_full_pass(aws_env, tmp_path: Path) -> None:
    sc = small("ml-staging", {"credit-approval": 2, "repair-cost": 1}, docs=False)
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-staging"][0])
    seed.seed_endpoint(sm, s3, sc, "ml-staging", "repair-shadow", sc.versions[2])
    hours = 4 / 3600  # four seconds, so the test need not wait a day (and a busy machine still fits its steps in)
    ws, catalog = make_workspace(tmp_path, {"ml-staging": {"full_sync_every_hours": hours}})
    assert run_sync(ws, catalog, accounts=["ml-staging"]).results[0].full
    target = sc.versions[0]
    desc = sm.describe_model_package(ModelPackageName=target.arn)
    # only the customer metadata changes: nothing in the package listing shows it
    sm.update_model_package(ModelPackageArn=target.arn, ModelApprovalStatus=desc["ModelApprovalStatus"],
                            ApprovalDescription=desc.get("ApprovalDescription", ""),
                            CustomerMetadataProperties={**desc["CustomerMetadataProperties"], "owner": "team-b"})
    sm.delete_endpoint(EndpointName="repair-shadow")
    vid = f"ml-staging:{target.group}:{target.version}"
    quick = run_sync(ws, catalog, accounts=["ml-staging"]).results[0]
    assert not quick.full and not quick.scheduled_full
    assert "owner" not in json.loads(versions(catalog).set_index("version_id").loc[vid, "metadata"])
    assert list(catalog.deployments().endpoint) == ["repair-shadow"]  # an incremental pass keeps what it cannot see
    time.sleep(4.1)
    due = run_sync(ws, catalog, accounts=["ml-staging"]).results[0]
    assert due.status == "ok" and due.full and due.scheduled_full
    rows = versions(catalog).set_index("version_id")
    assert json.loads(rows.loc[vid, "metadata"])["owner"] == "team-b"
    assert catalog.deployments().empty  # the deleted endpoint is gone too
    assert last_runs(catalog)["ml-staging"]["full_sync"]
    entry = catalog.query_df("SELECT payload FROM ledger WHERE action = 'sync.account' ORDER BY seq DESC LIMIT 1")
    assert json.loads(entry.payload[0])["scheduled_full"] is True
    # right after a full pass the next sync is incremental again
    assert not run_sync(ws, catalog, accounts=["ml-staging"]).results[0].full


def test_full_sync_every_hours_zero_never_schedules_one(aws_env, tmp_path: Path) -> None:
    small("ml-dev", {"claims-fraud": 1}, docs=False)
    ws, catalog = make_workspace(tmp_path, {"ml-dev": {"full_sync_every_hours": 0}})
    run_sync(ws, catalog, accounts=["ml-dev"])
    with catalog.transaction() as con:  # the last full pass a year ago
        con.execute("UPDATE sync_runs SET started_at = started_at - INTERVAL 365 DAY")
    assert not run_sync(ws, catalog, accounts=["ml-dev"]).results[0].full


def test_a_model_card_embedded_in_a_package_becomes_that_versions_card(
    aws_env, fault_proxy, aws_profiles, tmp_path: Path
) -> None:
    sc = small("ml-prod", {"repair-cost": 3}, docs=False)
    first, broken = sc.versions[0], sc.versions[1]
    content = {"intended_uses": {"purpose_of_model": "Estimate repair cost of a claim", "risk_rating": "High"},
               "business_details": {"business_problem": "claims handling"}}

    def with_card(answer: dict) -> dict:
        # moto's DescribeModelPackage has no ModelCard field; AWS returns one when the package was registered with it
        if answer["ModelPackageArn"] == first.arn:
            answer["ModelCard"] = {"ModelCardContent": json.dumps(content), "ModelCardStatus": "Approved"}
        elif answer["ModelPackageArn"] == broken.arn:
            answer["ModelCard"] = {"ModelCardContent": "{not json", "ModelCardStatus": "Draft"}
        return answer

    fault_proxy.rewrite("DescribeModelPackage", with_card)
    aws_profiles({"prod-via-proxy": fault_proxy.url})
    ws, catalog = make_workspace(tmp_path, {"ml-prod": {"profile": "prod-via-proxy"}})
    result = run_sync(ws, catalog, accounts=["ml-prod"]).results[0]
    assert result.status == "partial"
    assert [i for i in result.issues if "embedded model card" in i] == [
        f"{broken.arn}: embedded model card is malformed: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)"]
    cards = catalog.query_df("SELECT * FROM model_cards").set_index("version_id")
    card = cards.loc[f"ml-prod:repair-cost:{first.version}"]
    assert card.status == "Approved" and card.model == "repair-cost" and card.account == "ml-prod"
    assert json.loads(card.content) == content
    assert len(cards) == 1
    model = catalog.query_df("SELECT * FROM models WHERE name = 'repair-cost'").iloc[0]
    assert model.risk_tier == "high" and model.intended_use == "Estimate repair cost of a claim"
