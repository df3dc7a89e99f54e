"""The one small protocol every source implements, and the typed records it yields.

A connector is built from one account's configuration and a cache folder. It

- ``extract(since, full=..., progress=...)`` → :class:`Snapshot`: typed records changed since a watermark
  (everything when ``full``), with per-item problems collected instead of raised;
- ``fetch(uri)`` → a local path of the artifact or dataset at ``uri`` (content-addressed in the cache);
- optionally promotes (:class:`Promoter`): writes an approval back to a version, and registers a copy of a
  version from another account of the same kind, idempotently by request id.

Nothing here touches the catalog: ``governance.sync`` writes a snapshot in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

ProgressFn = Callable[[str, float], None]
"""Progress callback: a short message and a fraction in [0, 1]."""


def no_progress(message: str, fraction: float) -> None:
    """A progress callback that ignores everything."""


def record_hash(obj: Any) -> str:
    """sha256 of a canonical JSON rendering; used to tell a changed record from an unchanged one."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, no spaces and ISO dates: equal data gives equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default, ensure_ascii=False)


def _default(o: Any) -> Any:
    if isinstance(o, dt.datetime | dt.date):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, frozenset | set | tuple):
        return sorted(o) if isinstance(o, frozenset | set) else list(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclass(frozen=True)
class ModelRecord:
    """A logical model as one account knows it (a SageMaker model package group, a folder model)."""

    name: str
    description: str | None = None
    owner: str | None = None
    risk_tier: str | None = None
    intended_use: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionRecord:
    """One version of a model in one account."""

    model: str
    version: int
    source_ref: str  # the registry's own id (SageMaker ARN, folder path)
    approval_status: str  # Approved | Rejected | PendingManualApproval
    created_at: dt.datetime
    created_by: str | None = None
    modified_at: dt.datetime | None = None
    approval_description: str | None = None
    artifact_uri: str | None = None
    artifact_sha256: str | None = None
    framework: str | None = None
    image: str | None = None
    # named dataset URIs: reference, validation, current, scored ...
    data_uris: dict[str, str] = field(default_factory=dict)
    # named document URIs: model_metrics, bias_report, explainability_report, baseline_statistics ...
    report_uris: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    run_ref: str | None = None
    # the source version's ref when this version was promoted from another account
    source_version_ref: str | None = None
    source_account: str | None = None
    model_card_ref: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()        # registry labels: MLflow aliases, ZenML stage; sorted
    environment: str | None = None      # the environment this version is in when the source says so
                                        # (alias_environments / stage_environments); None = the account's own


@dataclass(frozen=True)
class RunRecord:
    """A training job, trial component or other run that produced a version."""

    run_ref: str
    kind: str  # training_job | trial_component | run
    name: str
    status: str | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    experiment: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeploymentRecord:
    """An endpoint variant serving a version."""

    endpoint: str
    variant: str
    status: str
    model: str | None = None
    version_ref: str | None = None  # source_ref of the served version, when known
    model_data_uri: str | None = None
    weight: float = 1.0
    updated_at: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelCardRecord:
    """A model card: intended uses, risk rating and other documentation fields."""

    card_ref: str
    model: str
    status: str | None = None
    version_ref: str | None = None
    content: dict[str, Any] = field(default_factory=dict)
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class SyncIssue:
    """A problem with one item (a corrupt version folder, a malformed document); the rest still syncs."""

    ref: str
    message: str


@dataclass(frozen=True)
class Snapshot:
    """What one extraction found in one account."""

    models: tuple[ModelRecord, ...] = ()
    versions: tuple[VersionRecord, ...] = ()
    runs: tuple[RunRecord, ...] = ()
    deployments: tuple[DeploymentRecord, ...] = ()
    model_cards: tuple[ModelCardRecord, ...] = ()
    issues: tuple[SyncIssue, ...] = ()
    watermark: str | None = None
    # True when this is a complete listing: rows of the account missing from it were deleted at the source
    complete: bool = True
    calls: int = 0
    throttled: int = 0


@dataclass(frozen=True)
class PromotionRef:
    """What a promotion writes into the target version's metadata, so a retry finds it again."""

    request_id: str
    ledger_hash: str | None
    source_account: str
    source_ref: str
    approved_by: tuple[str, ...] = ()


@runtime_checkable
class Connector(Protocol):
    """A source of model registry records for one account."""

    kind: ClassVar[str]

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Records changed since the watermark ``since`` (all of them when ``full`` or ``since`` is None)."""
        ...

    def fetch(self, uri: str) -> Path:
        """A local copy of the file at ``uri``, stored in the cache under its sha256."""
        ...


@runtime_checkable
class Promoter(Protocol):
    """The optional half of a connector that executes approved promotions."""

    def set_approval(self, version: VersionRecord, status: str, description: str) -> VersionRecord:
        """Write an approval status back to ``version`` in this account; return it as re-read."""
        ...

    def register_copy(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> VersionRecord:
        """Register ``source`` in this account with provenance ``ref``; a retry returns the same version."""
        ...
