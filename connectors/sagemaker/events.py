"""SageMaker's EventBridge events as an SQS queue holds them: the documented envelope
(``{"version": "0", "id", "detail-type", "source": "aws.sagemaker", "account", "time", "region", "resources",
"detail"}``) read into :class:`~connectors.base.RegistryEvent` records.

- ``SageMaker Model Package State Change``: ``detail`` is the package as DescribeModelPackage shows it
  (``ModelPackageGroupName``, ``ModelPackageVersion``, ``ModelPackageArn``, ``ModelApprovalStatus``,
  ``ApprovalDescription``, ``ModelLifeCycle``, ``LastModifiedBy`` …): its approval status and note become one change
  with the event's own ``time``; a lifecycle stage another.
- ``SageMaker Endpoint State Change``: which version an endpoint serves is read by the sync the event triggers
  (the event carries no model package); the event's time dates the deployment change the sync sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.base import RegistryChange, RegistryEvent
from connectors.sagemaker.cloudtrail import event_time, package_parts
from core.errors import InputError

MODEL_PACKAGE = "SageMaker Model Package State Change"
ENDPOINT = "SageMaker Endpoint State Change"


def envelope_of(body: str) -> dict[str, Any]:
    """The EventBridge event an SQS message's body holds; :class:`InputError` when it holds none."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise InputError("the message is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or not isinstance(doc.get("detail-type"), str):
        raise InputError("the message is not an EventBridge event (no id or detail-type)")
    return doc


def owner(envelope: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(AWS account id, region) the event comes from: the envelope's ``account`` and ``region``, else those its
    resource's ARN names (moto 5.2.5 leaves ``account`` out of the events it delivers to SQS)."""
    detail = envelope.get("detail") if isinstance(envelope.get("detail"), Mapping) else {}
    arn = next(iter(envelope.get("resources") or []), None) or detail.get("ModelPackageArn") or ""
    parts = arn.split(":") if isinstance(arn, str) else []
    from_arn = (parts[4] or None, parts[3] or None) if len(parts) > 5 and parts[0] == "arn" else (None, None)
    return envelope.get("account") or from_arn[0], envelope.get("region") or from_arn[1]


def _who(detail: Mapping[str, Any]) -> str | None:
    who = detail.get("LastModifiedBy") or detail.get("CreatedBy") or {}
    if not isinstance(who, Mapping):
        return None
    return who.get("UserProfileName") or (who.get("IamIdentity") or {}).get("Arn") or who.get("UserProfileArn")


def parse(envelope: Mapping[str, Any]) -> RegistryEvent:
    """The changes one event states (none for an event Countersign does not read); :class:`InputError` when it is
    malformed."""
    kind = envelope["detail-type"]
    at = event_time(envelope.get("time"))
    if at is None:
        raise InputError(f"event {envelope['id']} has no readable time")
    event_id = f"aws:{envelope['id']}"
    detail = envelope.get("detail") if isinstance(envelope.get("detail"), Mapping) else {}
    if kind != MODEL_PACKAGE or envelope.get("source") != "aws.sagemaker":
        endpoint = detail.get("EndpointName") if kind == ENDPOINT else None
        changes = (RegistryChange(at=at, what="deployment", action="changed", source="event", endpoint=endpoint,
                                  event_id=event_id, evidence=f"EventBridge event {envelope['id']}"),) if endpoint else ()
        return RegistryEvent(event_id, "eventbridge", kind, at, changes)
    arn = detail.get("ModelPackageArn") or next(iter(envelope.get("resources") or []), None)
    parts = package_parts(arn)
    if parts is None:
        raise InputError(f"event {envelope['id']} names no versioned model package")
    group = detail.get("ModelPackageGroupName") or parts[0]
    number = int(detail.get("ModelPackageVersion") or parts[1])
    base = {"at": at, "what": "version", "source": "event", "model": group, "version": number, "source_ref": arn,
            "actor": _who(detail), "event_id": event_id, "evidence": f"EventBridge event {envelope['id']}"}
    changes = []
    status = detail.get("ModelApprovalStatus")
    if isinstance(status, str):
        changes.append(RegistryChange(**base, action="status", approval_status=status,
                                      approval_description=detail.get("ApprovalDescription")))
    stage = detail.get("ModelLifeCycle")
    if isinstance(stage, Mapping) and stage.get("Stage"):
        extra = " ".join(str(x) for x in (stage.get("StageStatus"), stage.get("StageDescription")) if x)
        changes.append(RegistryChange(**base, action="stage", label=str(stage["Stage"]),
                                      note=f"lifecycle stage {stage['Stage']}" + (f" ({extra})" if extra else "")))
    return RegistryEvent(event_id, "eventbridge", kind, at, tuple(changes), group, number)


class EventBridgeEvents:
    """What ``connectors.EVENTS`` registers for ``sagemaker`` accounts: EventBridge events read from a queue."""

    channel = "eventbridge"
    envelope_of = staticmethod(envelope_of)
    owner = staticmethod(owner)
    parse = staticmethod(parse)
