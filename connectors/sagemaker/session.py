"""Reaching one account: boto3 sessions (AssumeRole with refreshable credentials), clients shared per account
configuration, the meter counting calls and throttled answers, and reading S3 objects into the cache."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from connectors import digests
from connectors.base import AccountInfo, ArtifactDigest, VersionRecord
from connectors.cache import ContentCache
from connectors.sagemaker.capture import CAPTURE_SCHEME, capture_parquet, split_s3
from connectors.sagemaker.settings import SageMakerSettings
from core.canonical import canonical_json
from core.errors import ConnectorError
from core.structs import to_builtins

_THROTTLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "EC2ThrottledException",
})


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
        {"account": account, "settings": to_builtins(settings), "env": env}).encode()).hexdigest()


def forget_clients(account: str | None = None, settings: SageMakerSettings | None = None) -> None:
    """Drop the shared sessions and clients of ``account`` configured with ``settings`` (of every account when
    None); the next connector creates new ones and assumes its role again."""
    with _HANDLES_LOCK:
        if account is None or settings is None:
            _HANDLES.clear()
        else:
            _HANDLES.pop(_handles_key(account, settings), None)


def error_text(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        err = response["Error"]
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{err.get('Code') or 'HTTP ' + str(status)}: {err.get('Message') or ''}".strip()
    return f"{type(exc).__name__}: {exc}"


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


class SageMakerSession:
    """What every part of the connector shares: settings, account, cache, and the account's clients."""

    kind: ClassVar[str] = "sagemaker"
    session_name: ClassVar[str] = "countersign-sync"

    def __init__(self, settings: SageMakerSettings, account: AccountInfo, *, root: Path, cache_dir: Path) -> None:
        self.settings = settings
        self.account = account
        self.root = Path(root)
        self.cache_dir = Path(cache_dir)
        self.cache = ContentCache(self.cache_dir, self.kind)
        self.digests = digests.DigestIndex(self.cache_dir, self.kind)
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
        return ConnectorError(f"account {self.account.name!r} ({self.settings.region}): {what}: {error_text(exc)}")

    # -- fetch ----------------------------------------------------------------------------------------------

    def fetch(self, uri: str) -> Path:
        """A local copy of the S3 object (or Parquet of the data capture) at ``uri``, stored under its sha256."""
        from botocore.exceptions import BotoCoreError, ClientError

        if uri.startswith(CAPTURE_SCHEME + "://"):
            return capture_parquet(self, uri)
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

    # -- artifact digests (connectors.base.ArtifactReader) -------------------------------------------------------

    def artifact_digest(self, version: VersionRecord, *, fresh: bool = False) -> ArtifactDigest:
        """Countersign's sha256 of the S3 object (or, for an uncompressed model, the objects under the prefix)
        ``version.artifact_uri`` names, streamed with the sync role; read again when the object's ETag, size,
        modification time or version changed, or when ``fresh``."""
        if not version.artifact_uri:
            return digests.unreadable("the version names no model artifact")
        return self.s3_digest(version.artifact_uri, "sync", fresh=fresh)

    def s3_digest(self, uri: str, purpose: str, *, fresh: bool = False) -> ArtifactDigest:
        """:meth:`artifact_digest` of the S3 URI ``uri`` with the client of ``purpose`` (sync, or promote: a copy
        read back in the target account)."""
        try:
            s3 = self.client("s3", purpose)
        except ConnectorError as exc:
            return digests.unreadable(str(exc))
        return digests.s3_digest(self.digests, s3, uri, fresh=fresh)
