"""A version's state as registry changes move it: the one state machine a backfill (a version's past, change by
change) and an event (one change to a version's current state) both run, so the same change makes the same state."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.base import RegistryChange
from core.canonical import canonical_json
from governance.config import AccountConfig

UNKNOWN_STATUS = "Unknown"  # shown when a record dates a version's labels but no record says its approval status


@dataclass(frozen=True)
class VersionState:
    """What a change can move: the approval status and note, and the registry labels (aliases, stages)."""

    status: str | None = None
    description: str | None = None
    labels: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        """Whether anything of the state is known (a row can say it)."""
        return self.status is not None or bool(self.labels)


def apply_change(state: VersionState | None, change: RegistryChange) -> VersionState | None:
    """The state after ``change`` (None: the version is gone); ``state`` None means nothing known before."""
    if change.action == "deleted":
        return None
    current = state or VersionState()
    if change.action == "created":
        return VersionState(change.approval_status, change.approval_description, ())
    if change.action == "status":
        return dataclasses.replace(current, status=change.approval_status, description=change.approval_description)
    if change.action == "approval":
        return dataclasses.replace(current, status=change.approval_status)
    if change.action == "description":
        return dataclasses.replace(current, description=change.approval_description)
    if change.action == "stage" and change.label:  # a lifecycle stage replaces the previous one
        return dataclasses.replace(current, labels=(change.label,))
    if change.action == "label" and change.label:
        labels = set(current.labels) - {change.label} if change.removed else set(current.labels) | {change.label}
        return dataclasses.replace(current, labels=tuple(sorted(labels)))
    return current


def environment_of(account: AccountConfig, labels: Sequence[str]) -> str:
    """The environment a version holding ``labels`` is in, as the account's connector places it: the first
    environment of its label mapping (in the settings' order) that one of the labels means, else the account's."""
    meant = {account.label_environment(label) for label in labels} - {None}
    order = getattr(account.settings, "environments", None)
    for environment in (order() if callable(order) else ()):
        if environment in meant:
            return environment
    return account.environment


def row_id(*parts: object) -> str:
    """A history row id stating its content: the same statement gets the same id (idempotent writes)."""
    return "bf:" + hashlib.sha256(canonical_json([str(p) if p is not None else None for p in parts]).encode()
                                  ).hexdigest()[:32]


def change_source(row: Mapping[str, Any]) -> str:
    """Where a history row's change came from and how sure its time is, in words: ``cloudtrail (exact)``,
    ``event (exact)``, ``sync (inferred)`` (a registry's last-modified time), ``sync (observed)`` (when a sync saw it)."""
    source = row.get("change_source")
    confidence = row.get("confidence")
    if not isinstance(source, str):
        source, confidence = "sync", "inferred" if row.get("time_source") == "source" else "observed"
    return f"{source} ({confidence})" if isinstance(confidence, str) else source
