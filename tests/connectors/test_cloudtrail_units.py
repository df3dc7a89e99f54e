"""CloudTrail files and registry events, read without a server: the record shapes the reader must take apart."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from connectors.base import RegistryChange
from connectors.sagemaker import cloudtrail
from connectors.sagemaker.events import envelope_of, owner, parse
from core.errors import InputError
from governance.changes import VersionState, apply_change
from tests.connectors import cloudtrail_files as ct

ACCOUNT, REGION = "333333333333", "eu-west-1"
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/claims-fraud/3"
D = dt.datetime


def test_records_are_read_whatever_the_case_of_parameters_and_refused_calls_are_dropped() -> None:
    records = [
        ct.record(ACCOUNT, REGION, D(2026, 1, 2), "UpdateModelPackage", "bob",
                  {"ModelPackageArn": ARN, "ModelApprovalStatus": "Approved"}),  # the API's own casing
        ct.record(ACCOUNT, REGION, D(2026, 1, 3), "UpdateModelPackage", "eve",
                  {"modelPackageArn": ARN, "modelApprovalStatus": "Rejected"}, error="AccessDenied"),
        ct.record(ACCOUNT, REGION, D(2026, 1, 4), "ListModelPackages", "bob", {}),  # reads change nothing
    ]
    kept = cloudtrail.read_records(ct.body(records))
    changes = cloudtrail.ChangeReader().changes((r, "f") for r in kept)
    assert [(c.action, c.approval_status, c.actor.rsplit("/", 1)[-1]) for c in changes] == [
        ("approval", "Approved", "bob")]


def test_an_unusual_record_falls_back_to_the_general_reader_and_garbage_is_refused() -> None:
    odd = ct.record(ACCOUNT, REGION, D(2026, 1, 2), "DeleteModelPackage", "bob", {"modelPackageName": ARN})
    odd["userIdentity"] = "not an object"  # another type than the fast reader expects
    assert [r["eventName"] for r in cloudtrail.read_records(ct.body([odd]))] == ["DeleteModelPackage"]
    with pytest.raises(ValueError, match="gzip"):
        cloudtrail.read_records(b"plain text")
    with pytest.raises(ValueError, match="CloudTrail"):
        cloudtrail.read_records(gzip.compress(b'{"Records": [sagemaker.amazonaws.com'))


def test_an_organisation_trail_and_a_local_copy_are_found_and_missing_days_are_periods(tmp_path: Path) -> None:
    org = tmp_path / "AWSLogs" / "o-abc123"
    for day in (1, 2, 5):
        path = org / ct.key_for("", ACCOUNT, REGION, D(2026, 1, day, 12)).removeprefix("AWSLogs/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(ct.body([]))
    found = cloudtrail.local_files(tmp_path, ACCOUNT, REGION, D(2026, 1, 1), D(2026, 1, 7))
    assert [f.day.day for f in found] == [1, 2, 5]
    gaps = cloudtrail.missing_days([f.day for f in found], D(2026, 1, 1), D(2026, 1, 7))
    assert [(a.day, b.day, why) for a, b, why in gaps] == [(3, 5, "no CloudTrail file"), (6, 7, "no CloudTrail file")]
    assert cloudtrail.package_parts(ARN) == ("claims-fraud", 3) and cloudtrail.package_parts("arn:x") is None


def test_an_endpoint_updated_to_a_configuration_read_before_is_said_to_be_unknown() -> None:
    reader = cloudtrail.ChangeReader()
    update = ct.record(ACCOUNT, REGION, D(2026, 1, 2), "UpdateEndpoint", "carol",
                       {"endpointName": "ep", "endpointConfigName": "cfg-old"})
    assert reader.changes([(update, "f")]) == []
    assert "created before the records read" in reader.issues[0].message


def test_an_eventbridge_event_in_the_documented_shape_and_its_owner() -> None:
    body = json.dumps({"version": "0", "id": "e-1", "detail-type": "SageMaker Model Package State Change",
                       "source": "aws.sagemaker", "account": ACCOUNT, "time": "2026-03-14T09:30:00Z",
                       "region": REGION, "resources": [ARN],
                       "detail": {"ModelPackageGroupName": "claims-fraud", "ModelPackageVersion": 3,
                                  "ModelPackageArn": ARN, "ModelApprovalStatus": "Approved",
                                  "ApprovalDescription": "ok", "LastModifiedBy": {"UserProfileName": "bob"},
                                  "ModelLifeCycle": {"Stage": "Production", "StageStatus": "Approved"}}})
    envelope = envelope_of(body)
    event = parse(envelope)
    assert owner(envelope) == (ACCOUNT, REGION) and event.at == D(2026, 3, 14, 9, 30)
    assert [(c.action, c.approval_status or c.label, c.actor) for c in event.changes] == [
        ("status", "Approved", "bob"), ("stage", "Production", "bob")]
    assert owner({**envelope, "account": None}) == (ACCOUNT, REGION)  # from the resource's ARN
    for bad in ("not json", json.dumps({"id": "x"})):
        with pytest.raises(InputError):
            envelope_of(bad)
    other = parse({**envelope, "detail-type": "SageMaker Training Job State Change"})
    assert other.changes == ()


def test_the_state_machine_moves_labels_and_keeps_a_note_an_approval_does_not_touch() -> None:
    at = D(2026, 1, 1)
    change = lambda action, **kw: RegistryChange(at=at, what="version", action=action, source="event", **kw)  # noqa: E731
    state = apply_change(None, change("created", approval_status="PendingManualApproval", approval_description="new"))
    state = apply_change(state, change("approval", approval_status="Approved"))
    assert state == VersionState("Approved", "new", ())
    state = apply_change(state, change("label", label="champion"))
    state = apply_change(state, change("label", label="challenger"))
    assert state.labels == ("challenger", "champion")
    assert apply_change(state, change("label", label="champion", removed=True)).labels == ("challenger",)
    assert apply_change(state, change("deleted")) is None
