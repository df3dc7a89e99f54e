"""The one small protocol every source implements, and the typed records it yields.

A connector kind is a class built as ``Kind(settings, account, root=..., cache_dir=...)`` from its own validated
settings (a :class:`ConnectorSettings` subclass declared next to it), the neutral :class:`AccountInfo`, the workspace
root (relative paths in settings resolve against it) and the cache folder. It is registered in ``connectors.REGISTRY``
and imports nothing of the project but :mod:`core` and :mod:`connectors`. It

- ``extract(since, full=..., progress=...)`` → :class:`Snapshot`: typed records changed since a watermark
  (everything when ``full``), with per-item problems collected instead of raised;
- ``fetch(uri)`` → a local path of the artifact or dataset at ``uri`` (content-addressed in the cache);
- optionally ``prefetch(full=...)``: start the calls every ``extract`` makes whatever its watermark, before the
  catalog has been opened to read it (``governance.sync`` calls it; the next ``extract`` uses what arrived);
- ``artifact_digest(version, fresh=...)`` (:class:`ArtifactReader`) → :class:`ArtifactDigest`: Countersign's own
  sha256 of the bytes of a version's artifact at the source now, streamed (never held in memory) and remembered by
  the source's identity of the bytes (``connectors.digests``); every record ``extract`` yields carries it;
- optionally promotes (:class:`Promoter`): writes an approval back to a version, and registers a copy of a
  version from another account of the same kind, idempotently by request id, refusing bytes that are not the
  ones the approval bound (:class:`core.errors.ArtifactMismatch`);
- optionally holds model cards (:class:`CardWriter`): reads a model's card in Countersign's field names
  (:data:`CARD_FIELDS`) and writes one back, refusing (:class:`core.errors.ConflictError`) when the registry's card
  changed since it was read.
- optionally reads its registry's own records of the past (:class:`HistoryReader`, ``countersign backfill``):
  :class:`RegistryChange` records with their own times, and what was read (:class:`ReadObject`).

Registry events (``countersign listen``) are parsed outside connectors' instances, by the functions a kind registers
in ``connectors.EVENTS``, into :class:`RegistryEvent` records; an :class:`EventQueue` holds those that wait in a queue.

Nothing here touches the catalog: ``governance.sync`` writes a snapshot in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from connectors.naming import META_TWIN_REF as META_TWIN_REF  # re-exported: names every kind writes
from connectors.naming import TAG_COLLECTIONS as TAG_COLLECTIONS
from connectors.settings import AccountInfo as AccountInfo  # re-exported: the account and settings bases
from connectors.settings import ConnectorSettings as ConnectorSettings
from core.errors import InputError
from core.progress import ProgressFn, no_progress

# The registry approval statuses every kind reads and writes (SageMaker's ModelApprovalStatus vocabulary).
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")


def require_approval_status(status: str) -> None:
    """Refuse, before anything is written, an approval status outside :data:`APPROVAL_STATUSES`."""
    if status not in APPROVAL_STATUSES:
        raise InputError(f"approval status must be one of {', '.join(APPROVAL_STATUSES)}, got {status!r}")


def decode_watermark(text: str | None, version: int) -> dict[str, Any] | None:
    """A connector's JSON watermark as a dict, or None when there is none, it is unreadable, or it was written in
    another format ``version`` (``"v"``): the connector then does a full pass."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("v") != version:
        return None
    return data


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
    # Countersign's own sha256 of the artifact's bytes (a directory: connectors.digests.manifest_digest), else the
    # one the registry records when the bytes could not be read; None when neither is known
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
    # registry labels (an MLflow alias, a ZenML stage), sorted
    labels: tuple[str, ...] = ()
    # the environment this version is in when the source says so (labels mapped to environments); None: the account's
    environment: str | None = None
    # where artifact_sha256 comes from: "countersign" (we streamed the bytes) | "registry" (the registry records it)
    artifact_digest_source: str | None = None
    # when Countersign read the bytes that gave artifact_sha256 (naive UTC); None for a registry digest
    artifact_digest_at: dt.datetime | None = None
    # why the artifact's bytes could not be read, one line (then artifact_sha256 is the registry's, or None)
    artifact_digest_problem: str | None = None


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
    # the environment the promotion goes to: an account holding several environments (labels) moves the label
    environment: str | None = None
    # the digest the approval bound: the promoter refuses other bytes (core.errors.ArtifactMismatch)
    artifact_sha256: str | None = None


@dataclass(frozen=True)
class ArtifactDigest:
    """Countersign's observation of the bytes of one artifact (``connectors.digests`` defines the digest)."""

    sha256: str | None  # None when the bytes could not be read
    source: str  # "registry" (the registry itself records it) | "countersign" (we streamed the bytes)
    observed_at: dt.datetime | None  # when the bytes were read (naive UTC)
    identity: str | None  # what identified the bytes at the source: ETag / size / mtime / URI, as one string
    problem: str | None = None  # why the artifact could not be read, one line (sha256 is None then)


@dataclass(frozen=True)
class RegistryChange:
    """One past change of a version or an endpoint variant, with its own time, as a registry's records or events
    state it (``countersign backfill`` and ``countersign listen`` turn these into history rows).

    ``what``: ``version`` or ``deployment``. ``action``: for a version ``created`` (with its first approval status),
    ``status`` (a new approval status and note, None meaning no note), ``approval`` (a new status, the note kept),
    ``description`` (a new note only), ``stage`` (a lifecycle stage, held as the label ``label``), ``label``
    (``label`` added, or removed when ``removed``), ``deleted``; for a deployment ``serving`` (the variant serves
    the version, ``weight``) or ``ended``. ``source``: ``cloudtrail``, ``lifecycle action``,
    ``registry timestamp`` or ``event``; ``confidence``: ``exact`` (the change's own recorded time) or ``inferred``.
    """

    at: dt.datetime  # naive UTC
    what: str
    action: str
    source: str
    confidence: str = "exact"
    model: str | None = None
    version: int | None = None
    source_ref: str | None = None  # the version's registry id (a model package ARN), when known
    actor: str | None = None
    approval_status: str | None = None
    approval_description: str | None = None
    label: str | None = None
    removed: bool = False
    endpoint: str | None = None
    variant: str | None = None
    weight: float | None = None
    model_data_uri: str | None = None  # what an endpoint variant serves when it names no version
    note: str | None = None  # one line for people (a lifecycle stage's status and description)
    evidence: str | None = None  # where it was read: an object key and event id, a delivery id
    event_id: str | None = None


@dataclass(frozen=True)
class ReadObject:
    """One object a backfill read (a CloudTrail log file), with the digest of its bytes as read."""

    uri: str
    sha256: str
    size: int
    records: int = 0


@dataclass(frozen=True)
class HistoryRead:
    """What one account's own records say about its past (:meth:`HistoryReader.read_history`).

    ``reach``: from when ``changes`` are complete (the start of the period whose records were read), None when the
    reading dates nothing exactly. ``gaps``: (from, to, why) periods inside it that no record covers (a day without
    a CloudTrail file). ``sources``: what was read, in words (``cloudtrail``, ``lifecycle action``).
    """

    changes: tuple[RegistryChange, ...] = ()
    objects: tuple[ReadObject, ...] = ()
    reach: dt.datetime | None = None
    gaps: tuple[tuple[dt.datetime, dt.datetime, str], ...] = ()
    sources: tuple[str, ...] = ()
    issues: tuple[SyncIssue, ...] = ()
    calls: int = 0


@runtime_checkable
class HistoryReader(Protocol):
    """The optional half of a connector that reads its registry's own records of the past (backfill)."""

    def read_history(self, since: dt.datetime | None, until: dt.datetime, *, records: str | None = None,
                     progress: ProgressFn = no_progress) -> HistoryRead:
        """The changes recorded between ``since`` and ``until`` (naive UTC); ``records`` names where older records
        are kept (CloudTrail files: ``s3://bucket/prefix`` or a local folder)."""
        ...


@dataclass(frozen=True)
class RegistryEvent:
    """One event a registry delivered (a webhook, an EventBridge event), parsed: its id, own time and changes."""

    event_id: str
    channel: str  # mlflow webhook | eventbridge
    kind: str  # the registry's own name of the event (model_version_alias.created, SageMaker Model Package State Change)
    at: dt.datetime  # the event's own time (naive UTC)
    changes: tuple[RegistryChange, ...] = ()
    model: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class QueuedMessage:
    """One message received from a queue, to be deleted by ``receipt`` once what it says is committed."""

    message_id: str
    receipt: str
    body: str
    receive_count: int = 1


@runtime_checkable
class EventQueue(Protocol):
    """A queue of registry events (SQS holding EventBridge events), read with long polling."""

    def receive(self, wait_seconds: int, max_messages: int = 10) -> list[QueuedMessage]:
        """Up to ``max_messages`` messages, waiting up to ``wait_seconds`` for the first."""
        ...

    def delete(self, receipt: str) -> None:
        """Delete a message received earlier (after what it says was committed)."""
        ...


@runtime_checkable
class Connector(Protocol):
    """A source of model registry records for one account."""

    kind: ClassVar[str]

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Records changed since the watermark ``since`` (all of them when ``full`` or ``since`` is None)."""
        ...

    def fetch(self, uri: str) -> Path:
        """A local copy of the file at ``uri``, stored in the cache under its sha256 (see ``connectors.cache``);
        a URI outside this account's source is an :class:`core.errors.InputError`."""
        ...


@runtime_checkable
class ArtifactReader(Protocol):
    """What every kind implements: Countersign's own digest of a version's artifact."""

    def artifact_digest(self, version: VersionRecord, *, fresh: bool = False) -> ArtifactDigest:
        """Countersign's own sha256 of the bytes `version`'s artifact has at the source now; cached by the
        source identity unless `fresh` (then the bytes are streamed again)."""
        ...


@runtime_checkable
class Promoter(Protocol):
    """The optional half of a connector that executes approved promotions."""

    def set_approval(self, version: VersionRecord, status: str, description: str) -> VersionRecord:
        """Write an approval status back to ``version`` in this account; return it as re-read.

        A kind whose registry records a stage beside the approval (SageMaker's ``ModelLifeCycle``) may also take a
        keyword ``environment``: the environment the approval promotes the version to; execution passes it to a
        promoter whose ``set_approval`` names that parameter."""
        ...

    def register_copy(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> VersionRecord:
        """Register ``source`` in this account with provenance ``ref``; a retry returns the same version.

        When ``ref.artifact_sha256`` is set, the bytes copied (or, for a label moved within one registry, the bytes
        the label will point at) are hashed first and a difference raises :class:`core.errors.ArtifactMismatch`
        before anything is registered; a copy is read back from this account and hashed too. The version returned
        carries this account's digest of its artifact."""
        ...


# The model card fields Countersign edits (governance.cards labels them); each CardWriter maps them to its schema.
CARD_FIELDS = ("description", "intended_uses", "limitations", "risk_rating", "ethical_considerations",
               "training_data", "evaluation", "human_oversight", "accountable_senior_manager", "materiality",
               "ai_act_classification", "generative_ai")


@dataclass(frozen=True)
class RegistryCard:
    """A model's card as one registry holds it now, in Countersign's field names (:data:`CARD_FIELDS`)."""

    target: str  # where it lives, in the registry's words ("model card credit-risk", "registered model credit")
    fields: dict[str, str]  # the values of the fields this registry holds (an empty field is absent)
    holds: tuple[str, ...]  # the fields this registry can hold; the rest stay in Countersign only
    native_revision: str | None = None  # the registry's own version or time of the card, when it has one

    @property
    def revision(self) -> str:
        """A digest of the held fields' values: equal revisions mean nobody changed them in between."""
        import hashlib

        text = json.dumps({k: self.fields.get(k, "") for k in self.holds}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


@runtime_checkable
class CardWriter(Protocol):
    """The optional half of a connector that holds model cards (model-level) Countersign can write back."""

    def read_card(self, model: str) -> RegistryCard:
        """``model``'s card as the registry holds it now (empty fields when it has none yet)."""
        ...

    def write_card(self, model: str, fields: Mapping[str, str], expected_revision: str) -> RegistryCard:
        """Write the held ``fields`` (an empty value clears one) and return the card as re-read; refuse with
        :class:`core.errors.ConflictError`, writing nothing, when the card's :attr:`RegistryCard.revision` is no
        longer ``expected_revision`` (someone changed it since it was read). Fields the registry's card holds that
        Countersign does not know are kept."""
        ...
