"""SageMaker connector: one AWS account and region's model registry, runs, endpoints and model cards.

Credentials come the AWS way: a boto3 session from ``profile`` (or the default chain), and when ``role_arn`` is
set, STS AssumeRole through botocore's refreshable credentials (renewed before expiry; session name
``countersign-sync`` / ``countersign-promote``). Endpoints come from boto3's own configuration
(``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SAGEMAKER``, a profile's ``endpoint_url``): tests reach moto that way.

Incremental sync. SageMaker's list of model packages carries no modification time, so the watermark is the state
seen by the last sync, as compact JSON: per package a short hash of what the listing shows (approval status,
package status, description), per endpoint / trial component / model card its ``LastModifiedTime``. A re-sync lists
everything (a handful of paginated calls) and describes only what is new or changed; ``--full`` describes
everything and lets the catalog delete what disappeared. A change that the listings cannot show (only the
customer metadata of a package edited) is picked up by the next full sync.

Documents that a version points to (ModelMetrics, DriftCheckBaselines: model quality, Clarify bias and
explainability reports, Model Monitor statistics/constraints) are fetched into the cache; their numbers become
``VersionRecord.metrics``. Data capture of the endpoints serving a version is exposed as
``data_uris["current"] = "capture+s3://bucket/prefix/<endpoint>/<variant>/?columns=..."``; ``fetch`` of such a
URI reads the JSON lines and writes one Parquet file into the cache.
"""

from __future__ import annotations

import base64
import collections
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, ClassVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from pydantic import Field

from connectors.base import (
    AccountInfo,
    Connector,
    ConnectorSettings,
    DeploymentRecord,
    ModelCardRecord,
    ModelRecord,
    PromotionRef,
    RunRecord,
    Snapshot,
    SyncIssue,
    VersionRecord,
)
from connectors.cache import ContentCache
from core.canonical import canonical_json
from core.clock import naive_utc
from core.errors import ConfigError, ConnectorError
from core.hashing import sha256_file
from core.progress import ProgressFn, no_progress

WATERMARK_VERSION = 1
# CustomerMetadataProperties keys Countersign reads and writes (AWS allows letters, digits and _.:/=+-@)
META_PREFIX = "countersign:"
META_REQUEST = "countersign:request-id"
META_SOURCE_ARN = "countersign:source-arn"
META_SOURCE_ACCOUNT = "countersign:source-account"
META_LEDGER = "countersign:ledger-hash"
META_APPROVED_BY = "countersign:approved-by"
META_CREATED_BY = "countersign:created-by"
META_TRAINING_JOB = "countersign:training-job"
META_CAPTURE_COLUMNS = "countersign:capture-columns"
META_DATA = "countersign:data:"  # countersign:data:reference = s3://... names a dataset of the version

CAPTURE_SCHEME = "capture+s3"
_THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "EC2ThrottledException",
})
_DATASET_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".json")
_BIAS_SECTIONS = ("pre_training_bias_metrics", "post_training_bias_metrics")
# (ModelMetrics section, key) -> the parser of metrics_from_document
_DOCUMENT_KINDS = {
    ("ModelQuality", "Statistics"): "quality",
    ("Bias", "Report"): "bias",
    ("Bias", "PreTrainingReport"): "bias",
    ("Bias", "PostTrainingReport"): "bias",
    ("Explainability", "Report"): "explainability",
}


# -- small helpers ---------------------------------------------------------------------------------


def _short_hash(*parts: Any) -> str:
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:10]


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return naive_utc(value).isoformat()
    return None if value is None else str(value)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``; anything else is an :class:`InputError`-like ConnectorError."""
    parts = urlsplit(uri)
    if parts.scheme not in ("s3", CAPTURE_SCHEME) or not parts.netloc:
        raise ConnectorError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
    return parts.netloc, unquote(parts.path.lstrip("/"))


def capture_uri(prefix: str, endpoint: str, variant: str, columns: tuple[str, ...] = ()) -> str:
    """The ``data_uris['current']`` value for an endpoint variant's data capture under ``prefix``."""
    bucket, key = split_s3(prefix)
    key = "/".join(p for p in (key.strip("/"), endpoint, variant) if p) + "/"
    uri = f"{CAPTURE_SCHEME}://{bucket}/{key}"
    if columns:
        uri += "?columns=" + ",".join(quote(c, safe="") for c in columns)
    return uri


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


# -- documents: metrics from SageMaker's JSON formats ---------------------------------------------------


def metrics_from_document(kind: str, doc: Any) -> dict[str, float]:
    """Numbers in a model quality, Clarify bias or explainability document, under stable names.

    Model quality (Model Monitor / pipelines ``evaluation.json``): ``{"binary_classification_metrics": {"auc":
    {"value": 0.9}}}`` or a flat ``{"auc": 0.9}`` → ``auc``. Clarify bias ``analysis.json`` → ``bias.<facet>=<value>.<CODE>``
    (e.g. ``bias.gender=F.DPPL``). Clarify explainability → ``shap.<feature>``. Raises ValueError when the document is
    not a JSON object or holds no number where one is expected.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    out: dict[str, float] = {}
    if kind == "bias":
        for section in _BIAS_SECTIONS:
            facets = (doc.get(section) or {}).get("facets") or {}
            for facet, entries in facets.items():
                for entry in entries or []:
                    group = entry.get("value_or_threshold")
                    for m in entry.get("metrics") or []:
                        value = _numeric(m.get("value"))
                        if value is not None and m.get("name"):
                            out[f"bias.{facet}={group}.{m['name']}"] = value
        if not out and not any(s in doc for s in _BIAS_SECTIONS):
            raise ValueError("no pre_training_bias_metrics or post_training_bias_metrics section")
        return out
    if kind == "explainability":
        for method in (doc.get("explanations") or {}).values():
            for label_block in (method or {}).values():
                for feature, value in ((label_block or {}).get("global_shap_values") or {}).items():
                    number = _numeric(value)
                    if number is not None:
                        out[f"shap.{feature}"] = number
        if not out and "explanations" not in doc:
            raise ValueError("no explanations section")
        return out
    # model quality: sections of {name: {"value": x}}, else a flat mapping of numbers
    sections = {k: v for k, v in doc.items() if k.endswith("_metrics") and isinstance(v, dict)}
    for body in sections.values():
        for name, entry in body.items():
            number = _numeric(entry.get("value")) if isinstance(entry, dict) else _numeric(entry)
            if number is not None:
                out[name] = number
    if not sections:
        out.update({k: n for k, v in doc.items() if k != "version" and (n := _numeric(v)) is not None})
    if not out:
        raise ValueError("no numeric metric found (expected {'<problem>_metrics': {name: {'value': x}}} or {name: x})")
    return out


def feature_names_from_statistics(doc: Any) -> tuple[str, ...]:
    """Feature names, in order, from a Model Monitor ``statistics.json`` (empty when absent)."""
    if not isinstance(doc, dict):
        return ()
    return tuple(f["name"] for f in doc.get("features") or [] if isinstance(f, dict) and f.get("name"))


# -- data capture → Parquet --------------------------------------------------------------------------


def _decode_payload(block: dict[str, Any]) -> str:
    data = block.get("data", "")
    if (block.get("encoding") or "").upper() == "BASE64":
        return base64.b64decode(data).decode("utf-8")
    return data


def _payload_rows(block: dict[str, Any], columns: tuple[str, ...], default_prefix: str) -> list[dict[str, Any]]:
    """Rows of one capture payload: CSV lines (named by ``columns``) or JSON records/instances."""
    text = _decode_payload(block).strip()
    if not text:
        return []
    content_type = (block.get("observedContentType") or "").lower()
    if "json" in content_type or text[:1] in "[{":
        obj = json.loads(text)
        if isinstance(obj, dict):
            for key in ("instances", "predictions", "records"):
                if key in obj:
                    obj = obj[key]
                    break
        items = obj if isinstance(obj, list) else [obj]
        rows = []
        for item in items:
            if isinstance(item, dict):
                rows.append(dict(item.get("features", item)) if isinstance(item.get("features"), dict) else dict(item))
            else:
                values = item if isinstance(item, list) else [item]
                rows.append(_named(values, columns, default_prefix))
        return rows
    return [_named(_parse_scalar_list(r), columns, default_prefix) for r in csv.reader(io.StringIO(text)) if r]


def _parse_scalar_list(values: list[str]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        try:
            out.append(float(v))
        except ValueError:
            out.append(v)
    return out


def _named(values: list[Any], columns: tuple[str, ...], prefix: str) -> dict[str, Any]:
    if len(values) == 1 and prefix == "prediction":
        return {"prediction": values[0]}
    return {(columns[i] if i < len(columns) else f"{prefix}{i}"): v for i, v in enumerate(values)}


def capture_to_rows(lines: list[str], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per captured record: input features (named by ``columns``), ``prediction``, event id and time."""
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            data = event["captureData"]
            inputs = _payload_rows(data.get("endpointInput") or {}, columns, "f")
            outputs = _payload_rows(data.get("endpointOutput") or {}, (), "prediction")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ValueError(f"line {number}: not a SageMaker data capture record ({type(exc).__name__}: {exc})") from None
        meta = event.get("eventMetadata") or {}
        for i, row in enumerate(inputs):
            if i < len(outputs):
                out = outputs[i]
                row.update(out if "prediction" in out else {f"prediction_{k}": v for k, v in out.items()})
            row["_event_id"] = meta.get("eventId")
            row["_inference_time"] = meta.get("inferenceTime")
            rows.append(row)
    return rows


# -- settings -------------------------------------------------------------------------------------------


class SageMakerSettings(ConnectorSettings):
    """``[[accounts]] connector = "sagemaker"``: one AWS account and region, and how to reach it."""

    region: str = Field(min_length=1)
    # STS AssumeRole into the account for reading (and for promoting, unless promotion_role_arn is set)
    role_arn: str | None = None
    external_id: str | None = None
    # the boto3 profile whose credentials (and endpoint) are the source identity; else the default chain
    profile: str | None = None
    promotion_role_arn: str | None = None
    # s3://bucket/prefix of the endpoints' data capture
    monitoring_prefix: str | None = None
    # the bucket a promotion copies artifacts into
    artifact_bucket: str | None = None
    # a group tag naming the logical model (several groups may then form one model)
    model_tag: str | None = None
    # parallel describe calls during extraction
    max_concurrency: int = Field(default=2, ge=1, le=16)

    def location(self) -> str | None:
        return self.region


# -- the watermark: what the last sync saw ---------------------------------------------------------------


@dataclasses.dataclass
class _State:
    groups: dict[str, str] = dataclasses.field(default_factory=dict)  # group -> logical model name
    packages: dict[str, str] = dataclasses.field(default_factory=dict)  # "group/version" -> hash of its summary
    endpoints: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # name -> {m, variants}
    cards: dict[str, str] = dataclasses.field(default_factory=dict)  # card name -> last modified
    trials: dict[str, str] = dataclasses.field(default_factory=dict)  # trial component -> last modified

    def dump(self) -> str:
        return canonical_json({"v": WATERMARK_VERSION, "g": self.groups, "p": self.packages, "e": self.endpoints,
                               "c": self.cards, "t": self.trials})

    @classmethod
    def load(cls, text: str | None) -> _State | None:
        if not text:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("v") != WATERMARK_VERSION:
            return None  # an older or foreign watermark: do a full pass
        return cls(data.get("g", {}), data.get("p", {}), data.get("e", {}), data.get("c", {}), data.get("t", {}))


# -- the call counter: every HTTP attempt, and throttled answers --------------------------------------------


class _Meter:
    def __init__(self) -> None:
        self.calls = 0
        self.throttled = 0
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-send", self._on_send)
        client.meta.events.register("needs-retry", self._on_retry_check)
        return client

    def _on_send(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1

    def _on_retry_check(self, response: Any = None, **_: Any) -> None:
        # Returning None leaves the decision to botocore's standard retry handler.
        if not response:
            return
        http, parsed = response
        code = (parsed or {}).get("Error", {}).get("Code")
        if code in _THROTTLE_CODES or getattr(http, "status_code", 0) == 429:
            with self._lock:
                self.throttled += 1


@dataclasses.dataclass
class _Handles:
    """The boto3 sessions and clients of one account configuration, and the meter counting their calls."""

    sessions: dict[str, Any] = dataclasses.field(default_factory=dict)
    clients: dict[tuple[str, str], Any] = dataclasses.field(default_factory=dict)
    # boto3 sessions are not thread-safe while creating clients: one re-entrant lock guards both
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)
    meter: _Meter = dataclasses.field(default_factory=lambda: _Meter())


_HANDLES: collections.OrderedDict[str, _Handles] = collections.OrderedDict()
_HANDLES_LOCK = threading.Lock()
_HANDLES_KEPT = 32


def _handles_for(account: str, settings: SageMakerSettings) -> _Handles:
    """The shared handles for ``account`` as configured now (its settings and the AWS_* environment).

    Creating a session and a client costs tens of milliseconds of CPU, and the first call of a session assumes
    the role; a re-sync reuses both. Credentials stay botocore's refreshable ones, renewed before expiry. A
    changed account setting or AWS_* variable (another endpoint, profile or key) gets fresh handles. A sync
    counts its calls as the meter's growth, so two syncs of the same account at once count each other's.
    """
    key = _handles_key(account, settings)
    with _HANDLES_LOCK:
        handles = _HANDLES.get(key)
        if handles is None:
            handles = _HANDLES[key] = _Handles()
            while len(_HANDLES) > _HANDLES_KEPT:
                _HANDLES.popitem(last=False)
        else:
            _HANDLES.move_to_end(key)
        return handles


def _handles_key(account: str, settings: SageMakerSettings) -> str:
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    return hashlib.sha256(canonical_json(
        {"account": account, "settings": settings.model_dump(mode="json"), "env": env}).encode()).hexdigest()


def forget_clients(account: str | None = None, settings: SageMakerSettings | None = None) -> None:
    """Drop the shared sessions and clients of ``account`` configured with ``settings`` (of every account when
    None); the next connector creates new ones and assumes its role again."""
    with _HANDLES_LOCK:
        if account is None or settings is None:
            _HANDLES.clear()
        else:
            _HANDLES.pop(_handles_key(account, settings), None)


def _error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        err = response["Error"]
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{err.get('Code') or 'HTTP ' + str(status)}: {err.get('Message') or ''}".strip()
    return f"{type(exc).__name__}: {exc}"


# -- the connector -------------------------------------------------------------------------------------


class SageMakerConnector:
    """One SageMaker account and region (``[[accounts]] connector = "sagemaker"``)."""

    kind: ClassVar[str] = "sagemaker"
    session_name: ClassVar[str] = "countersign-sync"

    def __init__(self, settings: SageMakerSettings, account: AccountInfo, *, root: Path, cache_dir: Path) -> None:
        self.settings = settings
        self.account = account
        self.root = Path(root)
        self.cache_dir = Path(cache_dir)
        self.cache = ContentCache(self.cache_dir, self.kind)
        # sessions, clients (and the STS credentials they hold) are shared by every connector built for the same
        # account configuration in this process: the portal's next "Sync now" reuses them
        handles = _handles_for(account.name, settings)
        self._sessions = handles.sessions
        self._clients = handles.clients
        self._lock = handles.lock
        self.meter = handles.meter

    # -- sessions and clients ------------------------------------------------------------------------

    def _session(self, purpose: str = "sync") -> Any:
        """A boto3 session for ``purpose`` (sync: role_arn, promote: promotion_role_arn or role_arn)."""
        import boto3
        import botocore.session
        from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

        with self._lock:
            if purpose in self._sessions:
                return self._sessions[purpose]
            acc, name = self.settings, self.account.name
            role = (acc.promotion_role_arn or acc.role_arn) if purpose == "promote" else acc.role_arn
            def botocore_session() -> Any:
                core = botocore.session.Session(profile=acc.profile) if acc.profile else botocore.session.Session()
                core.user_agent_extra = "countersign"
                # service models are large JSON files; one loader (and its cache) serves every session
                core.register_component("data_loader", botocore_loader())
                return core

            core = botocore_session()
            if role:
                # the source identity (profile or default chain) lives in its own session: boto3 must wrap a
                # botocore session only once
                base = botocore_session()
                source = base.get_credentials()
                if source is None:
                    raise ConnectorError(
                        f"account {name!r}: no AWS credentials to assume {role} with "
                        "(configure a profile, environment credentials or an instance role)"
                    )
                extra: dict[str, Any] = {"RoleSessionName": f"countersign-{purpose}"}
                if acc.external_id:
                    extra["ExternalId"] = acc.external_id

                def sts_client(*args: Any, **kwargs: Any) -> Any:
                    kwargs.setdefault("region_name", acc.region)
                    return base.create_client(*args, **kwargs)

                fetcher = AssumeRoleCredentialFetcher(
                    client_creator=sts_client, source_credentials=source, role_arn=role, extra_args=extra,
                )
                # refreshed by botocore shortly before expiry, so a long sync never runs on stale credentials
                core._credentials = DeferredRefreshableCredentials(
                    method="assume-role", refresh_using=fetcher.fetch_credentials
                )
            session = boto3.Session(botocore_session=core, region_name=acc.region)
            self._sessions[purpose] = session
            return session

    def client(self, service: str, purpose: str = "sync") -> Any:
        """A boto3 client (standard retry mode, calls and throttles counted) for ``service``."""
        from botocore.config import Config

        key = (service, purpose)
        with self._lock:
            if key not in self._clients:
                session = self._session(purpose)
                # attempts come from boto3's configuration (AWS_MAX_ATTEMPTS, a profile) so operators can tune them
                config = Config(retries={"mode": "standard"},
                                max_pool_connections=max(10, self.settings.max_concurrency * 2),
                                user_agent_appid="countersign")
                self._clients[key] = self.meter.attach(
                    session.client(service, region_name=self.settings.region, config=config)
                )
            return self._clients[key]

    def _paginate(self, service: str, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client(service).get_paginator(operation)
        for page in paginator.paginate(**params):
            yield from page.get(key, [])

    def _fail(self, what: str, exc: Exception) -> ConnectorError:
        # whatever broke (a revoked session, a changed role), the next attempt starts from fresh credentials
        forget_clients(self.account.name, self.settings)
        return ConnectorError(f"account {self.account.name!r} ({self.settings.region}): {what}: {_error_text(exc)}")

    # -- extract -------------------------------------------------------------------------------------

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Records changed since the watermark ``since`` (all of them when ``full`` or ``since`` is None)."""
        from botocore.exceptions import BotoCoreError, ClientError

        calls_before, throttled_before = self.meter.calls, self.meter.throttled
        before = _State.load(None if full else since)
        incremental = before is not None
        old = before or _State()
        new = _State()
        issues: list[SyncIssue] = []
        complete = True
        progress("listing groups, packages, endpoints and experiments", 0.02)
        models: list[ModelRecord] = []

        def groups_and_tags() -> None:
            try:
                groups = list(self._paginate("sagemaker", "list_model_package_groups", "ModelPackageGroupSummaryList"))
            except (ClientError, BotoCoreError) as exc:
                raise self._fail("cannot list model package groups (check the role and its policy "
                                 "docs/iam/sync-policy.json)", exc) from exc
            for g in groups:
                name = g["ModelPackageGroupName"]
                tags: dict[str, str] = {}
                known = incremental and name in old.groups
                if not known:
                    try:
                        tags = {t["Key"]: t["Value"] for t in self.client("sagemaker").list_tags(
                            ResourceArn=g["ModelPackageGroupArn"]).get("Tags", [])}
                    except (ClientError, BotoCoreError) as exc:
                        issues.append(SyncIssue(g["ModelPackageGroupArn"], f"tags not read: {_error_text(exc)}"))
                model = old.groups[name] if known else (
                    tags.get(self.settings.model_tag, name) if self.settings.model_tag else name)
                new.groups[name] = model
                if not known:
                    models.append(ModelRecord(name=model, description=g.get("ModelPackageGroupDescription"),
                                              tags=tags))

        def packages() -> list[dict[str, Any]]:
            try:
                return list(self._paginate("sagemaker", "list_model_packages", "ModelPackageSummaryList",
                                           ModelPackageType="Versioned", SortBy="CreationTime", SortOrder="Ascending",
                                           PaginationConfig={"PageSize": 100}))
            except (ClientError, BotoCoreError) as exc:
                raise self._fail("cannot list model packages", exc) from exc

        # the listings are independent: run them side by side, within the account's concurrency bound
        self.client("sagemaker")  # credentials and client made once, before the threads need them
        with ThreadPoolExecutor(max_workers=self.settings.max_concurrency) as pool:
            f_groups = pool.submit(groups_and_tags)
            f_packages = pool.submit(packages)
            f_endpoints = pool.submit(self._endpoints, old, new, incremental, issues)
            f_trials = pool.submit(self._trial_components, old, new, incremental, issues)
            f_cards = pool.submit(lambda: list(self._paginate("sagemaker", "list_model_cards", "ModelCardSummaries")))
            f_groups.result()
            summaries = [s for s in f_packages.result() if s.get("ModelPackageGroupName") in new.groups]
            deployments, endpoints_ok = f_endpoints.result()
            runs_tc, runs_ok = f_trials.result()
        complete &= endpoints_ok and runs_ok

        # which packages to describe: all on a full pass; else new, changed, or served by a changed endpoint
        changed_endpoints = {e for e in new.endpoints if old.endpoints.get(e) != new.endpoints.get(e)}
        changed_endpoints |= set(old.endpoints) - set(new.endpoints)
        affected = {
            v[0]
            for e in changed_endpoints
            for state in (old.endpoints.get(e), new.endpoints.get(e))
            if state
            for v in state.get("v", {}).values()
            if v[0]
        }
        todo: list[dict[str, Any]] = []
        for s in summaries:
            arn = s["ModelPackageArn"]
            digest = _short_hash(s.get("ModelApprovalStatus"), s.get("ModelPackageStatus"),
                                 s.get("ModelPackageDescription"))
            new.packages[_package_key(arn)] = digest
            if not incremental or old.packages.get(_package_key(arn)) != digest or arn in affected:
                todo.append(s)

        serving = self._serving(new)
        before_issues = len(issues)
        versions, runs = self._describe_versions(todo, new, serving, issues, progress)
        # a version or run that could not be described is missing from the snapshot, not gone from the source
        complete &= len(versions) == len(todo) and not any(
            "describe failed" in i.message for i in issues[before_issues:]
        )

        progress("reading model cards", 0.95)
        cards, cards_ok = self._model_cards(old, new, incremental, issues, summaries, f_cards)
        complete &= cards_ok
        cards += [card for v in versions if (card := embedded_card(v, issues)) is not None]
        for c in cards:
            intended = c.content.get("intended_uses") or {}
            risk = str(intended.get("risk_rating") or "").lower() or None
            # a card only describes a model the registry has; settings ([models.X]) still win in the catalog
            if (intended or risk) and c.model in new.groups.values():
                models.append(ModelRecord(
                    name=c.model, intended_use=intended.get("intended_uses") or intended.get("purpose_of_model"),
                    risk_tier=risk if risk not in (None, "unknown") else None,
                ))
        progress("done", 1.0)
        return Snapshot(
            models=_merge_models(models), versions=tuple(versions), runs=tuple(runs) + tuple(runs_tc),
            deployments=tuple(deployments), model_cards=tuple(cards), issues=tuple(issues), watermark=new.dump(),
            complete=complete and not incremental, calls=self.meter.calls - calls_before,
            throttled=self.meter.throttled - throttled_before,
        )

    # -- versions --------------------------------------------------------------------------------------

    @staticmethod
    def _serving(state: _State) -> dict[str, list[tuple[str, str, str | None]]]:
        """package ARN -> [(endpoint, variant, capture prefix)] from the endpoint state."""
        out: dict[str, list[tuple[str, str, str | None]]] = {}
        for endpoint, e in sorted(state.endpoints.items()):
            for variant, (ref, capture) in sorted(e.get("v", {}).items()):
                if ref:
                    out.setdefault(ref, []).append((endpoint, variant, capture))
        return out

    def _describe_versions(
        self,
        todo: list[dict[str, Any]],
        state: _State,
        serving: dict[str, list[tuple[str, str, str | None]]],
        issues: list[SyncIssue],
        progress: ProgressFn,
    ) -> tuple[list[VersionRecord], list[RunRecord]]:
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        total = max(len(todo), 1)
        done = [0]
        lock = threading.Lock()

        def one(summary: dict[str, Any]) -> tuple[VersionRecord | None, list[SyncIssue], str | None]:
            arn = summary["ModelPackageArn"]
            problems: list[SyncIssue] = []
            try:
                desc = sm.describe_model_package(ModelPackageName=arn)
            except (ClientError, BotoCoreError) as exc:
                return None, [SyncIssue(arn, f"describe failed: {_error_text(exc)}")], None
            finally:
                with lock:
                    done[0] += 1
                    if done[0] % 20 == 0 or done[0] == total:
                        progress(f"described {done[0]}/{total} versions", 0.15 + 0.7 * done[0] / total)
            desc.pop("ResponseMetadata", None)
            record = self._version_record(desc, state, serving, problems)
            return record, problems, self._training_job_name(desc)

        with ThreadPoolExecutor(max_workers=self.settings.max_concurrency) as pool:
            results = list(pool.map(one, todo))

        versions: list[VersionRecord] = []
        jobs: dict[str, list[int]] = {}
        for record, problems, job in results:
            if problems:
                issues.extend(problems)
                # forget what we saw so the next incremental sync looks at this version again
                for p in problems:
                    state.packages.pop(_package_key(p.ref), None)
            if record is None:
                continue
            if job:
                jobs.setdefault(job, []).append(len(versions))
            versions.append(record)

        runs: list[RunRecord] = []
        dropped: set[int] = set()
        for job, positions in sorted(jobs.items()):
            try:
                tj = sm.describe_training_job(TrainingJobName=job)
            except (ClientError, BotoCoreError) as exc:
                issues.append(SyncIssue(f"training-job/{job}", f"describe failed: {_error_text(exc)}"))
                # without its run a version would lose its datasets: keep the catalog's row, retry next sync
                for i in positions:
                    dropped.add(i)
                    state.packages.pop(_package_key(versions[i].source_ref), None)
                continue
            run = self._training_run(tj)
            runs.append(run)
            for i in positions:
                v = versions[i]
                data = dict(v.data_uris)
                for channel, key in (("train", "reference"), ("training", "reference"), ("validation", "validation")):
                    uri = run.inputs.get(channel)
                    if uri and key not in data and uri.lower().endswith(_DATASET_SUFFIXES):
                        data[key] = uri
                versions[i] = dataclasses.replace(v, data_uris=data)
        return [v for i, v in enumerate(versions) if i not in dropped], runs

    @staticmethod
    def _training_job_name(desc: dict[str, Any]) -> str | None:
        meta = desc.get("CustomerMetadataProperties") or {}
        if meta.get(META_TRAINING_JOB):
            return meta[META_TRAINING_JOB]
        generated = (desc.get("MetadataProperties") or {}).get("GeneratedBy") or ""
        if ":training-job/" in generated:
            return generated.rsplit("/", 1)[-1]
        return None

    def _documents(self, desc: dict[str, Any]) -> dict[str, tuple[str, str]]:
        """report name -> (S3 URI, kind) for every document of ModelMetrics and DriftCheckBaselines."""
        out: dict[str, tuple[str, str]] = {}
        for top, prefix in (("ModelMetrics", ""), ("DriftCheckBaselines", "drift_")):
            for section, body in (desc.get(top) or {}).items():
                for key, ref in (body or {}).items():
                    if isinstance(ref, dict) and ref.get("S3Uri"):
                        name = f"{prefix}{_snake(section)}_{_snake(key)}"
                        # only documents whose format we know are parsed; constraints and configs are kept as URIs
                        kind = "statistics" if (section, key) == ("ModelDataQuality", "Statistics") else ""
                        if top == "ModelMetrics":
                            kind = _DOCUMENT_KINDS.get((section, key), kind)
                        out[name] = (ref["S3Uri"], kind)
        if "model_quality_statistics" in out:
            out["model_metrics"] = out["model_quality_statistics"]
        for name in ("model_data_quality_statistics", "drift_model_data_quality_statistics"):
            if name in out:
                out.setdefault("baseline_statistics", out[name])
        return out

    def _version_record(
        self,
        desc: dict[str, Any],
        state: _State,
        serving: dict[str, list[tuple[str, str, str | None]]],
        problems: list[SyncIssue],
    ) -> VersionRecord:
        arn = desc["ModelPackageArn"]
        group = desc.get("ModelPackageGroupName") or ""
        meta = dict(desc.get("CustomerMetadataProperties") or {})
        containers = (desc.get("InferenceSpecification") or {}).get("Containers") or [{}]
        first = containers[0]
        artifact = first.get("ModelDataUrl") or ((first.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        framework = meta.get("countersign:framework") or (
            " ".join(p for p in (first.get("Framework"), first.get("FrameworkVersion")) if p) or None
        )
        created = desc.get("CreatedBy") or {}
        created_by = meta.get(META_CREATED_BY) or (created.get("IamIdentity") or {}).get("Arn") or created.get(
            "UserProfileName")

        reports = self._documents(desc)
        metrics: dict[str, float] = {}
        columns: tuple[str, ...] = tuple(c for c in (meta.get(META_CAPTURE_COLUMNS) or "").split(",") if c)
        seen: set[str] = set()
        for name, (uri, kind) in sorted(reports.items()):
            if not kind or uri in seen:
                continue
            seen.add(uri)
            try:
                doc = json.loads(self.fetch(uri).read_bytes())
                if kind == "statistics":
                    columns = columns or feature_names_from_statistics(doc)
                else:
                    metrics.update(metrics_from_document(kind, doc))
            except (ValueError, UnicodeDecodeError) as exc:
                problems.append(SyncIssue(arn, f"{name} document {uri} is malformed: {exc}"))
            except ConnectorError as exc:
                problems.append(SyncIssue(arn, f"{name} document {uri} not read: {exc}"))

        data = {k[len(META_DATA):]: v for k, v in meta.items() if k.startswith(META_DATA)}
        served = serving.get(arn, [])
        captures = [(e, var, cap) for e, var, cap in served if cap]
        for i, (endpoint, variant, prefix) in enumerate(captures):
            key = "current" if i == 0 else f"current:{endpoint}/{variant}"
            data.setdefault(key, capture_uri(prefix, endpoint, variant, columns))

        return VersionRecord(
            model=state.groups.get(group, group),
            version=int(desc.get("ModelPackageVersion") or 0),
            source_ref=arn,
            approval_status=desc.get("ModelApprovalStatus") or "PendingManualApproval",
            created_at=desc["CreationTime"],
            created_by=created_by,
            modified_at=desc.get("LastModifiedTime"),
            approval_description=desc.get("ApprovalDescription"),
            artifact_uri=artifact,
            framework=framework,
            image=first.get("Image"),
            data_uris=data,
            report_uris={k: uri for k, (uri, _) in reports.items()},
            metrics=metrics,
            metadata=meta,
            run_ref=f"training-job/{self._training_job_name(desc)}" if self._training_job_name(desc) else None,
            source_version_ref=meta.get(META_SOURCE_ARN),
            source_account=meta.get(META_SOURCE_ACCOUNT),
            raw=json.loads(canonical_json(desc)),
        )

    @staticmethod
    def _training_run(tj: dict[str, Any]) -> RunRecord:
        inputs = {
            c["ChannelName"]: ((c.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri", "")
            for c in tj.get("InputDataConfig") or []
        }
        metrics = {m["MetricName"]: float(m["Value"]) for m in tj.get("FinalMetricDataList") or [] if "Value" in m}
        raw = {
            "arn": tj.get("TrainingJobArn"),
            "billable_seconds": tj.get("BillableTimeInSeconds"),
            "instance_type": (tj.get("ResourceConfig") or {}).get("InstanceType"),
            "instance_count": (tj.get("ResourceConfig") or {}).get("InstanceCount"),
            "output": (tj.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
            "image": (tj.get("AlgorithmSpecification") or {}).get("TrainingImage"),
        }
        return RunRecord(
            run_ref=f"training-job/{tj['TrainingJobName']}", kind="training_job", name=tj["TrainingJobName"],
            status=tj.get("TrainingJobStatus"), started_at=tj.get("TrainingStartTime") or tj.get("CreationTime"),
            ended_at=tj.get("TrainingEndTime"), params=dict(tj.get("HyperParameters") or {}), metrics=metrics,
            inputs=inputs, experiment=(tj.get("ExperimentConfig") or {}).get("ExperimentName"),
            raw=json.loads(canonical_json(raw)),
        )

    # -- endpoints --------------------------------------------------------------------------------------

    def _endpoints(
        self, old: _State, new: _State, incremental: bool, issues: list[SyncIssue]
    ) -> tuple[list[DeploymentRecord], bool]:
        """Deployments of new or changed endpoints (all on a full pass); False when the listing failed."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        try:
            listed = list(self._paginate("sagemaker", "list_endpoints", "Endpoints"))
        except (ClientError, BotoCoreError) as exc:
            issues.append(SyncIssue("endpoints", f"not listed: {_error_text(exc)}"))
            new.endpoints.update(old.endpoints)
            return [], False
        out: list[DeploymentRecord] = []
        ok = True
        for e in listed:
            name = e["EndpointName"]
            marker = f"{_iso(e.get('LastModifiedTime'))}|{e.get('EndpointStatus')}"
            previous = old.endpoints.get(name)
            if incremental and previous and previous.get("m") == marker:
                new.endpoints[name] = previous
                continue
            try:
                endpoint = sm.describe_endpoint(EndpointName=name)
                config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
                capture = config.get("DataCaptureConfig") or {}
                prefix = capture.get("DestinationS3Uri") if capture.get("EnableCapture", True) and capture else None
                prefix = prefix or self.settings.monitoring_prefix
                weights = {v["VariantName"]: v.get("CurrentWeight") for v in endpoint.get("ProductionVariants") or []}
                counts = {v["VariantName"]: v.get("CurrentInstanceCount") for v in endpoint.get("ProductionVariants") or []}
                variants: dict[str, list[Any]] = {}
                for pv in config.get("ProductionVariants") or []:
                    model = sm.describe_model(ModelName=pv["ModelName"])
                    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
                    package = container.get("ModelPackageName") or ""
                    ref = package if ":model-package/" in package else None
                    data_url = container.get("ModelDataUrl")
                    weight = weights.get(pv["VariantName"])
                    out.append(DeploymentRecord(
                        endpoint=name, variant=pv["VariantName"], status=endpoint.get("EndpointStatus", "Unknown"),
                        version_ref=ref, model_data_uri=data_url,
                        weight=float(weight if weight is not None else pv.get("InitialVariantWeight", 1.0)),
                        updated_at=endpoint.get("LastModifiedTime"),
                        raw=json.loads(canonical_json({
                            "endpoint_arn": endpoint.get("EndpointArn"), "config": endpoint["EndpointConfigName"],
                            "model_name": pv["ModelName"], "instance_type": pv.get("InstanceType"),
                            "instance_count": counts.get(pv["VariantName"]) or pv.get("InitialInstanceCount"),
                            "created_at": _iso(endpoint.get("CreationTime")), "capture_prefix": prefix,
                        })),
                    ))
                    variants[pv["VariantName"]] = [ref, prefix]
                new.endpoints[name] = {"m": marker, "v": variants}
            except (ClientError, BotoCoreError) as exc:
                issues.append(SyncIssue(f"endpoint/{name}", f"not read: {_error_text(exc)}"))
                ok = False
                if previous:
                    new.endpoints[name] = {**previous, "m": "retry"}
        return out, ok

    # -- experiments ------------------------------------------------------------------------------------

    def _trial_components(
        self, old: _State, new: _State, incremental: bool, issues: list[SyncIssue]
    ) -> tuple[list[RunRecord], bool]:
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        try:
            listed = list(self._paginate("sagemaker", "list_trial_components", "TrialComponentSummaries"))
        except (ClientError, BotoCoreError) as exc:
            issues.append(SyncIssue("trial-components", f"not listed: {_error_text(exc)}"))
            new.trials.update(old.trials)
            return [], False
        out: list[RunRecord] = []
        ok = True
        for s in listed:
            name = s["TrialComponentName"]
            marker = _iso(s.get("LastModifiedTime")) or ""
            new.trials[name] = marker
            if incremental and old.trials.get(name) == marker:
                continue
            try:
                tc = sm.describe_trial_component(TrialComponentName=name)
                trials = sm.list_trials(TrialComponentName=name).get("TrialSummaries") or []
                experiment = None
                if trials:
                    experiment = sm.describe_trial(TrialName=trials[0]["TrialName"]).get("ExperimentName")
            except (ClientError, BotoCoreError) as exc:
                issues.append(SyncIssue(f"trial-component/{name}", f"not read: {_error_text(exc)}"))
                new.trials.pop(name, None)
                ok = False
                continue
            params = {
                k: str(v.get("StringValue", v.get("NumberValue")))
                for k, v in (tc.get("Parameters") or {}).items()
                if isinstance(v, dict)
            }
            metrics = {
                m["MetricName"]: float(m.get("Last", m.get("Avg")))
                for m in tc.get("Metrics") or []
                if m.get("MetricName") and (m.get("Last") is not None or m.get("Avg") is not None)
            }
            inputs = {k: v.get("Value", "") for k, v in (tc.get("InputArtifacts") or {}).items()}
            outputs = {k: v.get("Value", "") for k, v in (tc.get("OutputArtifacts") or {}).items()}
            status = tc.get("Status") or {}
            out.append(RunRecord(
                run_ref=f"trial-component/{name}", kind="trial_component", name=tc.get("DisplayName") or name,
                status=status.get("PrimaryStatus"), started_at=tc.get("StartTime"), ended_at=tc.get("EndTime"),
                params=params, metrics=metrics, inputs=inputs, experiment=experiment,
                raw=json.loads(canonical_json({"arn": tc.get("TrialComponentArn"), "outputs": outputs,
                                               "trial": trials[0]["TrialName"] if trials else None})),
            ))
        return out, ok

    # -- model cards --------------------------------------------------------------------------------------

    def _model_cards(
        self, old: _State, new: _State, incremental: bool, issues: list[SyncIssue], summaries: list[dict[str, Any]],
        listing: Future[list[dict[str, Any]]],
    ) -> tuple[list[ModelCardRecord], bool]:
        """Cards new or changed since the last sync (``listing``: the card list, fetched alongside the others)."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker")
        try:
            listed = listing.result()
        except (ClientError, BotoCoreError) as exc:
            issues.append(SyncIssue("model-cards", f"not listed: {_error_text(exc)}"))
            new.cards.update(old.cards)
            return [], False
        group_of = {s["ModelPackageArn"]: s["ModelPackageGroupName"] for s in summaries}
        out: list[ModelCardRecord] = []
        ok = True
        for s in listed:
            name = s["ModelCardName"]
            marker = f"{_iso(s.get('LastModifiedTime'))}|{s.get('ModelCardStatus')}"
            new.cards[name] = marker
            if incremental and old.cards.get(name) == marker:
                continue
            try:
                card = sm.describe_model_card(ModelCardName=name)
                content = json.loads(card.get("Content") or "{}")
                if not isinstance(content, dict):
                    raise ValueError("content is not a JSON object")
            except (ClientError, BotoCoreError, ValueError) as exc:
                issues.append(SyncIssue(f"model-card/{name}", f"not read: {_error_text(exc)}"))
                new.cards.pop(name, None)
                ok = False
                continue
            overview = content.get("model_overview") or {}
            model_id = overview.get("model_id") or ""
            version_ref = model_id if ":model-package/" in model_id else None
            group = group_of.get(version_ref or "") or overview.get("model_name") or name
            out.append(ModelCardRecord(
                card_ref=f"model-card/{name}", model=new.groups.get(group, group), status=card.get("ModelCardStatus"),
                version_ref=version_ref, content=content, updated_at=card.get("LastModifiedTime"),
            ))
        return out, ok

    # -- fetch ----------------------------------------------------------------------------------------------

    def fetch(self, uri: str) -> Path:
        """A local copy of the S3 object (or Parquet of the data capture) at ``uri``, stored under its sha256."""
        from botocore.exceptions import BotoCoreError, ClientError

        if uri.startswith(CAPTURE_SCHEME + "://"):
            return self._fetch_capture(uri)
        bucket, key = split_s3(uri)
        s3 = self.client("s3")
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
            marker = f"{uri}|{head.get('ETag')}|{head.get('ContentLength')}"
            cached = self.cache.lookup(marker)
            if cached:
                return cached
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot read {uri}", exc) from exc
        suffix = "".join(Path(key).suffixes[-2:])[:24]
        def copy(fh: BinaryIO) -> None:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                fh.write(chunk)

        path = self.cache.store(copy, suffix)
        self.cache.remember(marker, path)
        return path

    def _fetch_capture(self, uri: str) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from botocore.exceptions import BotoCoreError, ClientError

        parts = urlsplit(uri)
        columns = tuple(unquote(c) for c in (parse_qs(parts.query).get("columns", [""])[0]).split(",") if c)
        bucket, prefix = parts.netloc, unquote(parts.path.lstrip("/"))
        s3 = self.client("s3")
        try:
            objects = sorted(
                (o["Key"], o.get("ETag", ""))
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for o in page.get("Contents", [])
                if o["Key"].endswith((".jsonl", ".json"))
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot list data capture under {uri}", exc) from exc
        if not objects:
            raise ConnectorError(f"no data capture files (*.jsonl) under s3://{bucket}/{prefix}")
        marker = canonical_json([uri, objects])
        cached = self.cache.lookup(marker)
        if cached:
            return cached
        rows: list[dict[str, Any]] = []
        for key, _ in objects:
            try:
                text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
            except (ClientError, BotoCoreError) as exc:
                raise self._fail(f"cannot read s3://{bucket}/{key}", exc) from exc
            try:
                rows.extend(capture_to_rows(text.splitlines(), columns))
            except ValueError as exc:
                raise ConnectorError(f"s3://{bucket}/{key}: {exc}") from None
        names: list[str] = []
        for row in rows:
            names.extend(k for k in row if k not in names)
        table = pa.table({n: [r.get(n) for r in rows] for n in names})
        path = self.cache.store(lambda fh: pq.write_table(table, fh, compression="zstd"), ".parquet")
        self.cache.remember(marker, path)
        return path

    # -- promotion --------------------------------------------------------------------------------------------

    def _describe(self, arn: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            desc = self.client("sagemaker", "promote").describe_model_package(ModelPackageName=arn)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot describe {arn}", exc) from exc
        desc.pop("ResponseMetadata", None)
        return desc

    def _light_record(self, desc: dict[str, Any], model: str) -> VersionRecord:
        """A version record from a describe, without fetching documents (used right after a write)."""
        state = _State(groups={desc.get("ModelPackageGroupName", ""): model})
        problems: list[SyncIssue] = []
        record = self._version_record({**desc, "ModelMetrics": {}, "DriftCheckBaselines": {}}, state, {}, problems)
        reports = {k: uri for k, (uri, _) in self._documents(desc).items()}
        return dataclasses.replace(record, report_uris=reports, raw=json.loads(canonical_json(desc)))

    def set_approval(self, version: VersionRecord, status: str, description: str) -> VersionRecord:
        """Write an approval status and description to ``version``; return it as re-read with describe."""
        from botocore.exceptions import BotoCoreError, ClientError

        if status not in ("Approved", "Rejected", "PendingManualApproval"):
            raise ConnectorError(f"unknown approval status {status!r} (Approved, Rejected, PendingManualApproval)")
        current = self._describe(version.source_ref)
        # UpdateModelPackage may reset what is left out (moto does), so status, description and metadata go together
        params: dict[str, Any] = {
            "ModelPackageArn": version.source_ref, "ModelApprovalStatus": status, "ApprovalDescription": description[:1024],
        }
        if current.get("CustomerMetadataProperties"):
            params["CustomerMetadataProperties"] = current["CustomerMetadataProperties"]
        try:
            self.client("sagemaker", "promote").update_model_package(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot set approval of {version.source_ref}", exc) from exc
        after = self._describe(version.source_ref)
        if after.get("ModelApprovalStatus") != status or after.get("ApprovalDescription") != params["ApprovalDescription"]:
            raise ConnectorError(
                f"{version.source_ref}: approval reads back as {after.get('ModelApprovalStatus')!r} after writing "
                f"{status!r}; another writer may be changing it. Check the package in the console and retry."
            )
        if (after.get("CustomerMetadataProperties") or {}) != (current.get("CustomerMetadataProperties") or {}):
            raise ConnectorError(f"{version.source_ref}: customer metadata changed while writing the approval; retry")
        return dataclasses.replace(
            version, approval_status=status, approval_description=after.get("ApprovalDescription"),
            modified_at=after.get("LastModifiedTime") or version.modified_at,
            raw=json.loads(canonical_json(after)),
        )

    @staticmethod
    def promotion_description(ref: PromotionRef) -> str:
        """The package description that marks a promoted copy (listings show it, so a retry finds the copy)."""
        return f"Promoted by Countersign from {ref.source_ref} (request {ref.request_id})"[:1024]

    def find_copy(self, group: str, request_id: str) -> dict[str, Any] | None:
        """The package in ``group`` that Countersign registered for ``request_id``, described; None if absent."""
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client("sagemaker", "promote").get_paginator("list_model_packages")
        try:
            pages = list(paginator.paginate(ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"))
        except ClientError as exc:
            if "does not exist" in _error_text(exc) or "not found" in _error_text(exc).lower():
                return None
            raise self._fail(f"cannot list packages of {group}", exc) from exc
        except BotoCoreError as exc:
            raise self._fail(f"cannot list packages of {group}", exc) from exc
        marker = f"(request {request_id})"
        for page in pages:
            for s in page.get("ModelPackageSummaryList", []):
                if marker in (s.get("ModelPackageDescription") or ""):
                    desc = self._describe(s["ModelPackageArn"])
                    if (desc.get("CustomerMetadataProperties") or {}).get(META_REQUEST) == request_id:
                        return desc
        return None

    def register_copy(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> VersionRecord:
        """Register ``source`` in this account's group of the same name with provenance ``ref``; idempotent."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker", "promote")
        group = (source.raw or {}).get("ModelPackageGroupName") or source.model
        existing = self.find_copy(group, ref.request_id)
        if existing is not None:
            return self._light_record(existing, source.model)
        if not source.artifact_uri:
            raise ConnectorError(f"{source.source_ref} has no model artifact to promote")
        bucket = self.settings.artifact_bucket
        if not bucket:
            raise ConfigError(
                f"account {self.account.name!r}: set 'artifact_bucket' to the S3 bucket that receives promoted artifacts"
            )
        containers = (source.raw.get("InferenceSpecification") or {}).get("Containers") or []
        if not containers and not source.image:
            raise ConnectorError(f"{source.source_ref}: no inference image to register the copy with")

        # 1. the artifact, copied into this account under its content address (re-running overwrites the same bytes)
        local = source_connector.fetch(source.artifact_uri)
        digest = local.name.split(".")[0] if len(local.name.split(".")[0]) == 64 else sha256_file(local)
        key = f"countersign/{group}/{digest}/{Path(split_s3(source.artifact_uri)[1]).name or 'model.tar.gz'}"
        try:
            self.client("s3", "promote").upload_file(str(local), bucket, key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot copy the artifact to s3://{bucket}/{key}", exc) from exc
        target_uri = f"s3://{bucket}/{key}"

        # 2. the group, then the package
        try:
            sm.describe_model_package_group(ModelPackageGroupName=group)
        except ClientError:
            try:
                sm.create_model_package_group(
                    ModelPackageGroupName=group,
                    ModelPackageGroupDescription=f"{source.model} (created by Countersign promotion)",
                )
            except ClientError as exc:
                if "exist" not in _error_text(exc).lower():
                    raise self._fail(f"cannot create model package group {group}", exc) from exc
        spec_containers = [
            {k: v for k, v in {**c, "ModelDataUrl": target_uri}.items() if k in (
                "Image", "ModelDataUrl", "Environment", "Framework", "FrameworkVersion", "NearestModelName",
                "ContainerHostname", "ImageDigest", "ProductId")}
            for c in (containers or [{"Image": source.image}])
        ]
        spec = dict(source.raw.get("InferenceSpecification") or {})
        spec["Containers"] = spec_containers
        spec.setdefault("SupportedContentTypes", ["text/csv"])
        spec.setdefault("SupportedResponseMIMETypes", ["text/csv"])
        meta = {k: v for k, v in (source.metadata or {}).items() if not k.startswith(META_PREFIX) or k.startswith(META_DATA)}
        meta.update({
            META_REQUEST: ref.request_id,
            META_SOURCE_ARN: ref.source_ref,
            META_SOURCE_ACCOUNT: ref.source_account,
            META_APPROVED_BY: ",".join(ref.approved_by)[:256],
            META_LEDGER: ref.ledger_hash or "",
            META_CREATED_BY: (source.created_by or "")[:256],
        })
        meta = {k: v for k, v in meta.items() if v}  # AWS refuses empty values
        params: dict[str, Any] = {
            "ModelPackageGroupName": group,
            "ModelPackageDescription": self.promotion_description(ref),
            "InferenceSpecification": spec,
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": meta,
            # AWS treats a repeated token as the same request: one more guard against a duplicate on retry
            "ClientToken": str(uuid.uuid5(uuid.NAMESPACE_URL, f"countersign:{ref.request_id}:{group}")),
        }
        for field in ("ModelMetrics", "DriftCheckBaselines", "MetadataProperties", "Domain", "Task"):
            if source.raw.get(field):
                params[field] = source.raw[field]
        try:
            arn = sm.create_model_package(**params)["ModelPackageArn"]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot register the copy of {source.source_ref} in {group}", exc) from exc
        return self._light_record(self._describe(arn), source.model)


def embedded_card(version: VersionRecord, issues: list[SyncIssue]) -> ModelCardRecord | None:
    """The model card a package carries itself (DescribeModelPackage ``ModelCard``), as a card of that version.

    Its ``ModelCardContent`` is the JSON of a model card (intended uses, risk rating, evaluation details…); a
    content that is not a JSON object is a sync issue and the card is left out.
    """
    embedded = version.raw.get("ModelCard")
    if not isinstance(embedded, dict):
        return None
    try:
        content = json.loads(embedded.get("ModelCardContent") or "{}")
        if not isinstance(content, dict):
            raise ValueError("content is not a JSON object")
    except ValueError as exc:
        issues.append(SyncIssue(version.source_ref, f"embedded model card is malformed: {exc}"))
        return None
    return ModelCardRecord(
        card_ref=f"model-package-card/{_package_key(version.source_ref)}", model=version.model,
        status=embedded.get("ModelCardStatus"), version_ref=version.source_ref, content=content,
        updated_at=version.modified_at,
    )


def _merge_models(records: list[ModelRecord]) -> tuple[ModelRecord, ...]:
    """One record per logical model (several groups may name the same model by tag; a card adds its fields)."""
    merged: dict[str, ModelRecord] = {}
    for r in records:
        m = merged.get(r.name)
        merged[r.name] = r if m is None else ModelRecord(
            name=r.name, description=m.description or r.description, owner=m.owner or r.owner,
            risk_tier=r.risk_tier or m.risk_tier, intended_use=r.intended_use or m.intended_use,
            tags={**m.tags, **r.tags},
        )
    return tuple(merged[n] for n in sorted(merged))


_LOADER: Any = None
_LOADER_LOCK = threading.Lock()


def botocore_loader() -> Any:
    """The one botocore loader of this process: service models are parsed once for every session."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            from botocore.loaders import create_loader

            _LOADER = create_loader()
        return _LOADER


def _package_key(arn: str) -> str:
    # "group/version": the account and region are the same for every package of one watermark
    return arn.split(":model-package/")[-1]

