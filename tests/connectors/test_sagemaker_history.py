"""Registry history over a SageMaker account (moto): an approval overwritten in place and an endpoint deleted stay
answerable as of any instant."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from governance.history import inventory_as_of, version_history
from tests.connectors import sagemaker_seed as seed
from tests.connectors.test_sagemaker_changes import small
from tests.connectors.test_sagemaker_sync import make_workspace, run_sync


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def answer(catalog, instant: dt.datetime) -> dict[str, tuple[str, str | None]]:
    df = inventory_as_of(catalog, instant)
    return {r.version_id: (r.approval_status, r.deployed_on if isinstance(r.deployed_on, str) else None)
            for r in df.itertuples(index=False)}


def test_approval_overwritten_and_endpoint_deleted_keep_their_past(aws_env, tmp_path: Path) -> None:
    sc = small("ml-prod", {"repair-cost": 3})
    sm, s3 = seed.clients(seed.ACCOUNTS["ml-prod"][0])
    pending = next(v for v in sc.versions if v.status == "PendingManualApproval")
    seed.seed_endpoint(sm, s3, sc, "ml-prod", "repair-a", pending)
    ws, catalog = make_workspace(tmp_path)
    assert run_sync(ws, catalog, accounts=["ml-prod"], full=True).results[0].status == "ok"
    seen_pending = now()
    vid = f"ml-prod:{pending.group}:{pending.version}"
    before = answer(catalog, seen_pending)
    assert before[vid] == ("PendingManualApproval", "repair-a")

    # SageMaker overwrites the status in place; only Countersign remembers the pending state
    meta = sm.describe_model_package(ModelPackageName=pending.arn)["CustomerMetadataProperties"]
    sm.update_model_package(ModelPackageArn=pending.arn, ModelApprovalStatus="Approved",
                            ApprovalDescription="ok", CustomerMetadataProperties=meta)
    assert run_sync(ws, catalog, accounts=["ml-prod"]).results[0].status == "ok"
    sm.delete_endpoint(EndpointName="repair-a")
    assert run_sync(ws, catalog, accounts=["ml-prod"], full=True).results[0].status == "ok"

    assert answer(catalog, seen_pending) == before  # the past is unchanged
    assert answer(catalog, now())[vid] == ("Approved", None)
    states = version_history(catalog, vid)["states"]
    assert [s["approval_status"] for s in states] == ["PendingManualApproval", "Approved"]
    assert dt.datetime.fromisoformat(states[1]["valid_from"]) >= seen_pending - dt.timedelta(seconds=1)
    assert all(s["ledger_seq"] is not None for s in states)
    deps = catalog.deployment_history([vid])
    assert list(deps["endpoint"]) == ["repair-a"] and deps["valid_to_source"][0] == "sync"
