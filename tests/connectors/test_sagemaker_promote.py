"""The promotion hook: approve in the source account, register once in the target account, survive retries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from connectors.base import PromotionRef, VersionRecord
from connectors.sagemaker import SageMakerConnector
from connectors.sagemaker.metadata import META_REQUEST, META_SOURCE_ARN
from core.errors import ConfigError, ConnectorError
from core.structs import replace
from governance.catalog import Version
from governance.config import load_settings
from governance.sources import connector_for
from tests.connectors import sagemaker_seed as seed
from tests.connectors.lifecycle import LifeCycleStandIn
from tests.connectors.test_sagemaker_sync import make_workspace, run_sync


def record_of(v: Version) -> VersionRecord:
    """The connector's view of a catalog version, as the execution code builds it."""
    return VersionRecord(
        model=v.model, version=v.version, source_ref=v.source_ref, approval_status=v.approval_status,
        created_at=v.created_at or dt.datetime(1970, 1, 1), created_by=v.created_by, modified_at=v.modified_at,
        approval_description=v.approval_description, artifact_uri=v.artifact_uri, framework=v.framework,
        image=v.image, data_uris=dict(v.data_uris), report_uris=dict(v.report_uris), metrics=dict(v.metrics),
        metadata=dict(v.metadata), raw=dict(v.raw),
    )


def packages(sm, group: str) -> list[dict]:
    try:
        return sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    except sm.exceptions.ClientError:
        return []


def promotion_world(fault_proxy, aws_profiles, tmp_path: Path, *, life_cycle: bool = False):
    """Staging holds credit-approval v1..v2 (synced); prod is reached through the fault proxy — and staging too,
    with ``life_cycle``: the proxy then keeps the ``ModelLifeCycle`` moto ignores (an execution writes one)."""
    sc = seed.Scenario()
    sm_s, s3_s = seed.clients(seed.ACCOUNTS["ml-staging"][0])
    seed.seed_group(sm_s, s3_s, sc, "ml-staging", "credit-approval", 2)
    _, s3_p = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    seed.ensure_bucket(s3_p, seed.bucket_for(seed.ACCOUNTS["ml-prod"][0]))
    aws_profiles({"prod": fault_proxy.url, "staging": fault_proxy.url})
    if life_cycle:
        LifeCycleStandIn(fault_proxy)
    ws, catalog = make_workspace(tmp_path, {"ml-prod": {"profile": "prod"},
                                            "ml-staging": {"profile": "staging" if life_cycle else None}})
    run_sync(ws, catalog, accounts=["ml-staging"])
    return sc, ws, catalog


@pytest.fixture
def promo(aws_env, fault_proxy, aws_profiles, tmp_path: Path):
    sc, ws, catalog = promotion_world(fault_proxy, aws_profiles, tmp_path)
    settings = load_settings(ws)
    return sc, ws, catalog, connector_for(ws, settings, "ml-staging"), connector_for(ws, settings, "ml-prod")


def test_set_approval_writes_status_description_and_keeps_metadata(promo) -> None:
    sc, _ws, catalog, source, _ = promo
    pending = next(v for v in sc.versions if v.status != "Approved")
    record = record_of(catalog.version(f"ml-staging:credit-approval:{pending.version}"))
    after = source.set_approval(record, "Approved", "Approved in Countersign request r-1 by risk.officer")
    assert after.approval_status == "Approved"
    sm, _ = seed.clients(seed.ACCOUNTS["ml-staging"][0])
    desc = sm.describe_model_package(ModelPackageName=pending.arn)
    assert desc["ModelApprovalStatus"] == "Approved"
    assert desc["ApprovalDescription"] == "Approved in Countersign request r-1 by risk.officer"
    # moto (like a careless client) would have cleared the metadata had it not been sent back
    assert desc["CustomerMetadataProperties"] == {"team": "risk-ml", "countersign:created-by": pending.created_by}
    with pytest.raises(ConnectorError, match="unknown approval status"):
        source.set_approval(record, "Sure", "x")


def test_register_copy_once_even_after_a_crash_and_retries(promo) -> None:
    sc, ws, catalog, source, target = promo
    src = sc.versions[0]
    record = record_of(catalog.version(f"ml-staging:credit-approval:{src.version}"))
    ref = PromotionRef(request_id="req-1", ledger_hash="ab" * 32, source_account="ml-staging", source_ref=src.arn,
                       approved_by=("risk.officer@example.com", "validator@example.com"))
    sm_p, s3_p = seed.clients(seed.ACCOUNTS["ml-prod"][0])

    first = target.register_copy(record, source, ref)
    # a crash after the create and before anyone saw the answer: the retry must find the same version
    again = target.register_copy(record, source, ref)
    assert again.source_ref == first.source_ref
    listed = packages(sm_p, "credit-approval")
    assert [p["ModelPackageArn"] for p in listed] == [first.source_ref]

    desc = sm_p.describe_model_package(ModelPackageName=first.source_ref)
    meta = desc["CustomerMetadataProperties"]
    assert meta[META_REQUEST] == "req-1" and meta[META_SOURCE_ARN] == src.arn
    assert meta["countersign:source-account"] == "ml-staging" and meta["countersign:ledger-hash"] == "ab" * 32
    assert meta["countersign:approved-by"] == "risk.officer@example.com,validator@example.com"
    assert desc["ModelApprovalStatus"] == "Approved"
    container = desc["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == seed.IMAGE
    bucket, key = container["ModelDataUrl"][5:].split("/", 1)
    assert bucket == seed.bucket_for(seed.ACCOUNTS["ml-prod"][0])
    _, s3_s = seed.clients(seed.ACCOUNTS["ml-staging"][0])
    sb, sk = src.artifact_uri[5:].split("/", 1)
    assert s3_p.get_object(Bucket=bucket, Key=key)["Body"].read() == s3_s.get_object(Bucket=sb, Key=sk)["Body"].read()

    # the next sync of prod links the copy back to its source version
    run_sync(ws, catalog, accounts=["ml-prod"])
    copy = catalog.version("ml-prod:credit-approval:1")
    assert copy.source_version_id == f"ml-staging:credit-approval:{src.version}"
    assert catalog.lineage(copy.version_id)[1].source_ref == src.arn


def test_register_copy_failing_midway_then_retried_makes_one_version(promo, fault_proxy) -> None:
    sc, _ws, catalog, source, target = promo
    src = sc.versions[1]
    record = record_of(catalog.version(f"ml-staging:credit-approval:{src.version}"))
    ref = PromotionRef("req-2", None, "ml-staging", src.arn, ("risk.officer@example.com",))
    # the artifact copy succeeds, then registering fails on every attempt: the step fails as a whole
    fault_proxy.fail("CreateModelPackage", status=500, code="InternalFailure", times=2)
    with pytest.raises(ConnectorError, match="cannot register the copy"):
        target.register_copy(record, source, ref)
    sm_p, _ = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    assert packages(sm_p, "credit-approval") == []
    done = target.register_copy(record, source, ref)
    assert [p["ModelPackageArn"] for p in packages(sm_p, "credit-approval")] == [done.source_ref]
    # another request for the same version is another registration
    other = target.register_copy(record, source, PromotionRef("req-3", None, "ml-staging", src.arn))
    assert other.source_ref != done.source_ref and len(packages(sm_p, "credit-approval")) == 2


def test_register_copy_needs_a_target_bucket(promo, tmp_path: Path) -> None:
    _sc, ws, catalog, source, target = promo
    record = record_of(catalog.version("ml-staging:credit-approval:1"))
    bare = SageMakerConnector(replace(target.settings, artifact_bucket=None), target.account,
                              root=ws.root, cache_dir=ws.cache_dir)
    with pytest.raises(ConfigError, match="artifact_bucket"):
        bare.register_copy(record, source, PromotionRef("req-9", None, "ml-staging", record.source_ref))
