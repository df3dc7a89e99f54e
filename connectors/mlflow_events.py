"""MLflow webhooks (MLflow 3, experimental; SQL backend): verifying a delivery and reading what changed.

MLflow signs each delivery the Standard Webhooks way (``mlflow/webhooks/delivery.py`` of MLflow 3.17.2): headers
``X-MLflow-Delivery-Id`` (a UUID, the same on MLflow's own retries), ``X-MLflow-Timestamp`` (Unix seconds) and
``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "<delivery id>.<timestamp>.<body>" keyed with the webhook's
secret>``. The body is ``{"entity", "action", "timestamp" (ISO 8601, when MLflow sent it), "data"}``; for the
registry events Countersign reads, ``data`` is ``{"name", "version", ...}`` (``model_version.created``,
``model_version_tag.set|deleted``) or ``{"name", "alias", "version"}`` (``model_version_alias.created``; an alias
moved onto another version is a new ``created``) / ``{"name", "alias"}`` (``model_version_alias.deleted``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import RegistryChange, RegistryEvent
from core.errors import AccessDenied, InputError

SIGNATURE = "x-mlflow-signature"
TIMESTAMP = "x-mlflow-timestamp"
DELIVERY_ID = "x-mlflow-delivery-id"
TAG_APPROVAL = "countersign.approval"  # the tag the MLflow connector reads a version's approval status from
TAG_APPROVAL_DESCRIPTION = "countersign.approval_description"


@dataclass(frozen=True)
class Delivery:
    """A delivery whose signature verified: its id and the time MLflow signed it."""

    delivery_id: str
    signed_at: int  # Unix seconds


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float, tolerance: float) -> Delivery:
    """Check a delivery's HMAC signature and that it was signed within ``tolerance`` seconds of ``now``; raise
    :class:`AccessDenied` saying what is wrong otherwise (never which part of the signature differed)."""
    lower = {k.lower(): v for k, v in headers.items()}
    delivery_id, stamp, signature = lower.get(DELIVERY_ID), lower.get(TIMESTAMP), lower.get(SIGNATURE)
    if not delivery_id or not stamp or not signature:
        raise AccessDenied("not a signed MLflow delivery: X-MLflow-Delivery-Id, X-MLflow-Timestamp and "
                           "X-MLflow-Signature are required (register the webhook with a secret)")
    try:
        signed_at = int(stamp)
    except ValueError:
        raise AccessDenied(f"X-MLflow-Timestamp {stamp[:40]!r} is not Unix seconds") from None
    if abs(now - signed_at) > tolerance:
        raise AccessDenied(f"delivery {delivery_id[:64]} was signed {abs(now - signed_at):.0f} s from now, more than "
                           f"the {tolerance:.0f} s allowed: a replay, or a clock to fix")
    expected = base64.b64encode(hmac.new(secret.encode(), f"{delivery_id}.{stamp}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    offered = [part.partition(",")[2] for part in signature.split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected, o) for o in offered):
        raise AccessDenied(f"delivery {delivery_id[:64]}: the signature does not match the webhook secret")
    return Delivery(delivery_id, signed_at)


def _at(text: Any, fallback: int) -> dt.datetime:
    if isinstance(text, str):
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    return dt.datetime.fromtimestamp(fallback, dt.UTC).replace(tzinfo=None)


def parse(body: bytes, delivery: Delivery) -> RegistryEvent:
    """The event a verified delivery carries; :class:`InputError` for a body that is not one. An event Countersign
    does not read (a prompt's, a registered model created) comes back with no changes."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise InputError("the delivery's body is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entity"), str) or not isinstance(doc.get("action"), str):
        raise InputError("the delivery's body has no entity and action")
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    kind = f"{doc['entity']}.{doc['action']}"
    at = _at(doc.get("timestamp"), delivery.signed_at)
    event_id = f"mlflow:{delivery.delivery_id}"
    name = data.get("name") if isinstance(data.get("name"), str) else None
    number = _number(data.get("version"))
    base = {"at": at, "what": "version", "source": "event", "model": name, "version": number,
            "evidence": f"MLflow delivery {delivery.delivery_id}", "event_id": event_id}
    changes: tuple[RegistryChange, ...] = ()
    if kind in ("model_version_alias.created", "model_version_alias.deleted") and name and data.get("alias"):
        removed = kind.endswith("deleted")
        if not removed and number is None:
            raise InputError(f"{kind} names no version")
        changes = (RegistryChange(**base, action="label", label=str(data["alias"]), removed=removed),)
    elif kind == "model_version.created" and name and number is not None:
        status = (data.get("tags") or {}).get(TAG_APPROVAL) if isinstance(data.get("tags"), dict) else None
        changes = (RegistryChange(**base, action="created", approval_status=status or "PendingManualApproval"),)
    elif kind in ("model_version_tag.set", "model_version_tag.deleted") and name and number is not None \
            and data.get("key") in (TAG_APPROVAL, TAG_APPROVAL_DESCRIPTION):
        value = data.get("value") if kind.endswith("set") else None
        if data["key"] == TAG_APPROVAL:
            changes = (RegistryChange(**base, action="approval", approval_status=value or "PendingManualApproval"),)
        else:
            changes = (RegistryChange(**base, action="description", approval_description=value),)
    return RegistryEvent(event_id, "mlflow webhook", kind, at, changes, name, number)


def _number(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The ``X-MLflow-Signature`` MLflow sends for ``body`` (for tests and for checking a registration)."""
    digest = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class MlflowWebhooks:
    """What ``connectors.EVENTS`` registers for ``mlflow`` accounts: webhook deliveries."""

    channel = "mlflow webhook"
    Delivery = Delivery
    verify = staticmethod(verify)
    parse = staticmethod(parse)
