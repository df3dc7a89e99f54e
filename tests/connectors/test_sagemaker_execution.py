"""Executing an approved request against SageMaker (moto server): approval written in the source account, one
registration in the target account, even when the target fails mid-way and the request is retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ArtifactMismatch, ConflictError
from governance import ledger
from governance.config import load_settings
from governance.context import Context
from governance.execution import execute
from governance.identity import identity_for
from governance.promotion import approve, create_request, get_request
from tests.connectors import sagemaker_seed as seed
from tests.connectors.test_sagemaker_promote import packages, promotion_world


@pytest.fixture
def world(aws_env, fault_proxy, aws_profiles, tmp_path: Path):
    sc, ws, catalog = promotion_world(fault_proxy, aws_profiles, tmp_path, life_cycle=True)
    return sc, ws, load_settings(ws), catalog


def test_execution_fails_on_the_target_then_a_retry_registers_once(world, fault_proxy) -> None:
    sc, ws, settings, catalog = world
    src = next(v for v in sc.versions if v.status != "Approved")
    vid = f"ml-staging:credit-approval:{src.version}"
    engineer = identity_for(settings, "ml.engineer@example.com", source="cli")
    officer = identity_for(settings, "risk.officer@example.com", source="cli")
    rid = create_request(Context(ws, settings, catalog, engineer), vid, "prod", "SageMaker promotion").request_id
    assert approve(Context(ws, settings, catalog, officer), rid, "reviewed").status == "approved"

    fault_proxy.fail("CreateModelPackage", status=500, code="InternalFailure", times=2)
    r = execute(Context(ws, settings, catalog, officer), rid)
    assert r.status == "failed" and r.execution_state == "source_approved"
    sm_s, _ = seed.clients(seed.ACCOUNTS["ml-staging"][0])
    sm_p, _ = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    described = sm_s.describe_model_package(ModelPackageName=src.arn)
    assert described["ModelApprovalStatus"] == "Approved" and rid in described.get("ApprovalDescription", "")
    assert packages(sm_p, "credit-approval") == []

    r = execute(Context(ws, settings, catalog, officer), rid)
    assert r.status == "executed", r.execution_error
    prod = packages(sm_p, "credit-approval")
    assert len(prod) == 1
    assert r.target_version_id == f"ml-prod:credit-approval:{prod[0]['ModelPackageVersion']}"
    assert catalog.version(r.target_version_id).source_version_id == vid
    with pytest.raises(ConflictError):
        execute(Context(ws, settings, catalog, officer), rid)
    assert len(packages(sm_p, "credit-approval")) == 1
    actions = [e.action for e in ledger.entries_for(catalog, f"request:{rid}")]
    assert actions.count("execute.failed") == 1 and actions.count("execute.target_registered") == 1
    assert get_request(catalog, rid).attempts == 2
    assert ledger.verify_unchecked(ws, catalog).ok


def test_an_s3_artifact_replaced_after_approval_is_not_promoted(world) -> None:
    """Issue 31, finding 1 on SageMaker: the tarball behind ModelDataUrl is overwritten in S3 after the approval."""
    sc, ws, settings, catalog = world
    src = next(v for v in sc.versions if v.status != "Approved")
    vid = f"ml-staging:credit-approval:{src.version}"
    engineer = identity_for(settings, "ml.engineer@example.com", source="cli")
    officer = identity_for(settings, "risk.officer@example.com", source="cli")
    rid = create_request(Context(ws, settings, catalog, engineer), vid, "prod", "SageMaker promotion").request_id
    assert approve(Context(ws, settings, catalog, officer), rid, "reviewed").status == "approved"
    bound = ledger.entries_for(catalog, f"request:{rid}")[0].payload["artifact_sha256"]
    assert bound, "the request froze no digest of the S3 artifact"
    sm_s, s3_s = seed.clients(seed.ACCOUNTS["ml-staging"][0])
    url = sm_s.describe_model_package(ModelPackageName=src.arn)["InferenceSpecification"]["Containers"][0][
        "ModelDataUrl"]
    bucket, key = url.removeprefix("s3://").split("/", 1)
    s3_s.put_object(Bucket=bucket, Key=key, Body=b"another model, same key")  # a data scientist overwrites it

    with pytest.raises(ArtifactMismatch) as refused:
        execute(Context(ws, settings, catalog, officer), rid)
    assert refused.value.expected == bound and refused.value.found != bound
    sm_p, _ = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    assert packages(sm_p, "credit-approval") == []  # nothing registered in prod
    described = sm_s.describe_model_package(ModelPackageName=src.arn)
    assert described["ModelApprovalStatus"] != "Approved"  # nor approved in the source registry
    actions = [e.action for e in ledger.entries_for(catalog, f"request:{rid}")]
    assert actions[-1] == "execution.refused" and "execute.start" not in actions
    assert get_request(catalog, rid).status == "approved"
    assert ledger.verify_unchecked(ws, catalog).ok
