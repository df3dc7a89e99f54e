"""MLflow connector: one MLflow tracking server's model registry, runs and artifacts (``connector = "mlflow"``).

Everything goes over MLflow's REST API (``/api/2.0/mlflow/``) with one small httpx client; artifacts go through the
server's artifact proxy (``/api/2.0/mlflow-artifacts/``). Credentials come the MLflow way, from environment
variables named by the settings (``MLFLOW_TRACKING_TOKEN``, or ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD``): the settings hold the variable names, their values are read at the
edge and handed in as ``AccountInfo.secrets``, and nothing here reads ``os.environ``.

What one sync reads (per server):

- ``registered-models/search`` (pages of 1000): every model with its description, tags and **aliases**. MLflow
  keeps no history of aliases and moving one changes no timestamp, so the aliases of every model are compared with
  the previous sync's on every sync; a move re-reads the versions it touched.
- ``model-versions/search`` ordered by ``last_updated_timestamp DESC`` (pages of :data:`VERSION_PAGE`): everything
  on a full pass; on an incremental one, pages until the versions are older than the watermark.
- the runs behind those versions, in batches (``runs/search`` with ``attributes.run_id IN (...)``): params,
  latest metrics, tags and dataset inputs; and the MLflow 3 logged model (``logged-models/{id}``) of a version
  that names one.

The watermark is compact JSON: the newest ``last_updated_timestamp`` seen, the versions at that instant, each
model's alias map and a short hash of each model's fields, and versions to read again (they had a problem).

Approval: MLflow OSS has no approvals. A version's ``approval_status`` is its tag ``countersign.approval``
(``Approved`` / ``Rejected`` / ``PendingManualApproval``), written by Countersign's promotion; a version without it is
``PendingManualApproval``; any other value is a sync issue and the version is skipped (the catalog keeps its row).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

import httpx
from pydantic import Field, field_validator, model_validator

from connectors import digests
from connectors.base import (
    APPROVAL_STATUSES,
    AccountInfo,
    ArtifactDigest,
    Connector,
    ConnectorSettings,
    ModelRecord,
    PromotionRef,
    RunRecord,
    Snapshot,
    SyncIssue,
    VersionRecord,
    decode_watermark,
    require_approval_status,
)
from connectors.cache import ContentCache
from connectors.pool import Pool
from core import workers
from core.canonical import canonical_json
from core.errors import ConfigError, ConnectorError, CountersignError, InputError, NotFound
from core.hashing import sha256_chunks, sha256_file
from core.progress import ProgressFn, no_progress

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
WATERMARK_VERSION = 1
MODEL_PAGE = 1000  # the server's maximum for registered-models/search
VERSION_PAGE = 200  # model-versions/search allows 200,000; pages this size keep answers small and memory flat
RUN_BATCH = 100  # run ids per runs/search
INCREMENTAL_FIRST_PAGE = 20
PREFETCH_TTL = 30.0  # seconds a prefetched answer stands in for the call extract would make

# tags Countersign reads and writes on model versions (MLflow tag keys allow letters, digits and _-./ and spaces)
TAG_APPROVAL = "countersign.approval"
TAG_APPROVAL_DESCRIPTION = "countersign.approval_description"
TAG_REQUEST = "countersign.request_id"
TAG_LEDGER = "countersign.ledger_hash"
TAG_APPROVED_BY = "countersign.approved_by"
TAG_SOURCE_REF = "countersign.source_ref"
TAG_SOURCE_ACCOUNT = "countersign.source_account"
TAG_SOURCE_SERVER = "countersign.source_server"
TAG_PROMOTED_ALIAS = "countersign.promoted_alias"
TAG_DATA = "countersign.data."  # countersign.data.reference = mlflow-artifacts:/... names a dataset of the version
TAG_FRAMEWORK = "countersign.framework"
TAG_ARTIFACT_SHA256 = "countersign.artifact_sha256"  # the digest of the bytes a promotion copied (registry digest)
PROMOTION_EXPERIMENT = "Countersign promotions"
# run dataset contexts → the data_uris keys governance reads
_CONTEXTS = {"training": "reference", "train": "reference", "validation": "validation", "eval": "validation",
             "evaluation": "validation", "test": "validation"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ALIAS = re.compile(r"^[\w\-]+$")
# files that hold a model in a format Countersign loads without running code, best first
_SAFE_MODEL_FILES = (".skops", ".ubj", ".json", ".lgb", ".onnx")


# -- settings (the account keys of connector = "mlflow") ---------------------------------------------------------


class MlflowSettings(ConnectorSettings):
    """The keys of one ``[[accounts]]`` entry with ``connector = "mlflow"``."""

    tracking_uri: str = Field(description="http(s) URL of the MLflow tracking server")
    registry_uri: str | None = Field(default=None, description="model registry server, when not the tracking server")
    token_env: str = "MLFLOW_TRACKING_TOKEN"
    username_env: str = "MLFLOW_TRACKING_USERNAME"
    password_env: str = "MLFLOW_TRACKING_PASSWORD"
    insecure_tls: bool = False
    # alias -> environment, for one server whose aliases mean environments; the first listed wins for a version
    # holding several
    alias_environments: dict[str, str] = Field(default_factory=dict)
    max_concurrency: int = Field(default=4, ge=1, le=16)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    @field_validator("tracking_uri", "registry_uri")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http:// or https:// URL of an MLflow server, got {v!r} "
                             "(file stores and databricks:// URIs are not read by Countersign)")
        return v.strip().rstrip("/")

    @field_validator("token_env", "username_env", "password_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not _ENV_NAME.match(v):
            raise ValueError(f"must name an environment variable (letters, digits, _), got {v!r}; "
                             "credentials never go into countersign.toml")
        return v

    @field_validator("alias_environments")
    @classmethod
    def _aliases(cls, v: dict[str, str]) -> dict[str, str]:
        for alias in v:
            if not _ALIAS.match(alias) or alias == "latest" or re.fullmatch(r"[vV]\d+", alias):
                raise ValueError(f"{alias!r} is not a valid MLflow alias")
        return v

    @model_validator(mode="after")
    def _one_alias_per_environment(self) -> MlflowSettings:
        seen: dict[str, str] = {}
        for alias, env in self.alias_environments.items():
            if env in seen:
                raise ValueError(f"aliases {seen[env]!r} and {alias!r} both mean environment {env!r}: "
                                 "promotion would not know which one to move")
            seen[env] = alias
        return self

    def environments(self) -> tuple[str, ...]:
        """The environments this account's versions can be in through their aliases (empty when not used)."""
        return tuple(dict.fromkeys(self.alias_environments.values()))

    def label_environment(self, label: str) -> str | None:
        return self.alias_environments.get(label)

    def secret_env(self) -> tuple[str, ...]:
        """The credential variables, read at the edge (``AccountInfo.secrets``)."""
        return (self.token_env, self.username_env, self.password_env)

    def data_hint(self, key: str) -> str | None:
        contexts = [c for c, k in _CONTEXTS.items() if k == key]  # the usual name first
        uri = "a file the server stores (an mlflow-artifacts:/ or runs:/ URI)"
        if not contexts:
            return f"tag the version {TAG_DATA}{key} = {uri}"
        also = f" (or {', '.join(repr(c) for c in contexts[1:])})" if contexts[1:] else ""
        return (f"log {uri} as an input of the version's run with context {contexts[0]!r}{also}, or tag the version "
                f"{TAG_DATA}{key} = that URI")

    def location(self) -> str | None:
        return self.tracking_uri

    def alias_for(self, environment: str) -> str | None:
        """The alias that means ``environment``, if any."""
        return next((a for a, e in self.alias_environments.items() if e == environment), None)

    @property
    def registry(self) -> str:
        return self.registry_uri or self.tracking_uri

    def credentials(self, environ: Mapping[str, str]) -> Credentials:
        """The credentials the named variables hold in ``environ`` (a token wins over a user name and password)."""
        token = environ.get(self.token_env) or None
        user = environ.get(self.username_env) or None
        password = environ.get(self.password_env) or None
        if user and not password:
            raise ConfigError(f"{self.username_env} is set but {self.password_env} is not: set both, or a token "
                              f"in {self.token_env}")
        return Credentials(token=token, username=user if not token else None, password=password if not token else None,
                           source=(self.token_env if token else f"{self.username_env}/{self.password_env}" if user
                                   else None))


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What goes into the Authorization header; ``source`` names the variables it came from (for messages)."""

    token: str | None = dataclasses.field(default=None, repr=False)
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    source: str | None = None

    def auth(self) -> httpx.Auth | None:
        if self.token:
            return _Bearer(self.token)
        if self.username:
            return httpx.BasicAuth(self.username, self.password or "")
        return None

    def digest(self) -> str:
        return hashlib.sha256(canonical_json([self.token, self.username, self.password]).encode()).hexdigest()


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = self._header
        yield request


# -- HTTP --------------------------------------------------------------------------------------------------------


class _Meter:
    def __init__(self) -> None:
        self.calls = 0
        self.throttled = 0
        self.lock = threading.Lock()


_CLIENTS: Pool[tuple[httpx.Client, _Meter]] = Pool(close=lambda pair: pair[0].close())


def _shared_client(base: str, creds: Credentials, *, verify: bool, timeout: float, pool: int) -> tuple[httpx.Client, _Meter]:
    """One pooled client per server, credentials and TLS setting in this process (a re-sync reuses connections)."""
    return _CLIENTS.get(canonical_json([base, creds.digest(), verify, timeout, pool]), lambda: (
        httpx.Client(base_url=base, auth=creds.auth(), verify=verify, timeout=timeout,
                     limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
                     headers={"User-Agent": "countersign"}, follow_redirects=False),
        _Meter()))


def forget_clients() -> None:
    """Close every pooled client (tests that restart servers; a process that wants fresh connections)."""
    _CLIENTS.clear()


class _Api:
    """Calls to one MLflow server with errors turned into clear :class:`ConnectorError` messages."""

    RETRY_STATUS = frozenset({429, 502, 503, 504})

    def __init__(self, account: str, base: str, creds: Credentials, settings: MlflowSettings) -> None:
        self.account = account
        self.base = base
        self.creds = creds
        self.settings = settings
        self.client, self.meter = _shared_client(base, creds, verify=not settings.insecure_tls,
                                                 timeout=settings.timeout_seconds, pool=settings.max_concurrency * 2)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
                content: bytes | Iterable[bytes] | None = None, stream_to: Path | None = None,
                hashed: bool = False, missing_ok: bool = False, read_only: bool = False) -> Any:
        """One call (a few attempts on 429/5xx gateways); JSON answer, or None when ``missing_ok`` and 404.

        ``stream_to`` / ``hashed``: the body streams through sha256 (into the file ``stream_to`` when given), never
        held whole; the answer is ``{"sha256", "size"}``. A HEAD answers the response headers.

        ``read_only`` (searches): a 500 is tried again too. An MLflow server on a CPython without the fix of
        gh-106905 (3.11.7 here) answers concurrent searches now and then with "INTERNAL_ERROR: AST constructor
        recursion depth mismatch" (``ast`` used from several threads at once); a read can be repeated, a write not."""
        retry = self.RETRY_STATUS | {500} if read_only else self.RETRY_STATUS
        for attempt in range(3):
            with self.meter.lock:
                self.meter.calls += 1
            try:
                if stream_to is not None or hashed:
                    with self.client.stream(method, path, params=params) as resp:
                        if resp.status_code == 200:
                            with contextlib.ExitStack() as files:
                                fh = files.enter_context(open(stream_to, "wb")) if stream_to is not None else None
                                digest, size = sha256_chunks(resp.iter_bytes(1 << 20), copy_to=fh)
                            return {"sha256": digest, "size": size}
                        resp.read()
                else:
                    resp = self.client.request(method, path, params=params, json=body, content=content)
            except httpx.TransportError as exc:
                raise ConnectorError(
                    f"account {self.account!r}: cannot reach the MLflow server at {self.base} "
                    f"({type(exc).__name__}: {exc or 'no answer'}); is it running, and is the URL right?") from None
            if resp.status_code in retry and attempt < 2:
                if resp.status_code in (429, 503):
                    with self.meter.lock:
                        self.meter.throttled += 1
                time.sleep(0.2 * 3**attempt)
                continue
            break
        if resp.status_code == 200:
            if method == "HEAD":
                return dict(resp.headers)
            return resp.json() if resp.content else {}
        error = _error_of(resp)
        if resp.status_code == 404 and missing_ok:
            return None
        if resp.status_code == 401:
            how = (f"the credentials from {self.creds.source}" if self.creds.source
                   else f"no credentials (none of {self.settings.token_env}, {self.settings.username_env}/"
                        f"{self.settings.password_env} is set)")
            raise ConnectorError(
                f"account {self.account!r}: the MLflow server at {self.base} refused {how} (HTTP 401 "
                f"unauthenticated). Set {self.settings.token_env}, or {self.settings.username_env} and "
                f"{self.settings.password_env}, in the environment of the process running Countersign, or name "
                "other variables with token_env / username_env / password_env")
        if resp.status_code == 403:
            raise ConnectorError(f"account {self.account!r}: the MLflow user from {self.creds.source or 'no credentials'}"
                                 f" may not {method} {path} on {self.base} (HTTP 403 {error}): grant it "
                                 "READ on the models (MANAGE to promote)")
        if resp.status_code == 404 or "RESOURCE_DOES_NOT_EXIST" in error:
            raise NotFound(f"account {self.account!r}: {path} on {self.base}: {error}")
        raise ConnectorError(f"account {self.account!r}: {method} {path} on {self.base} failed "
                             f"(HTTP {resp.status_code}): {error}")

    def get(self, endpoint: str, **params: Any) -> Any:
        return self.request("GET", f"{API}/{endpoint}", params=params)

    def post(self, endpoint: str, body: dict[str, Any]) -> Any:
        return self.request("POST", f"{API}/{endpoint}", body=body)

    def search(self, endpoint: str, query: dict[str, Any], method: str = "GET") -> Any:
        """One page of a search (a read: tried again on HTTP 500 too)."""
        return self.request(method, f"{API}/{endpoint}", read_only=True,
                            **({"body": query} if method == "POST" else {"params": query}))

    def pages(self, endpoint: str, key: str, params: dict[str, Any], *, method: str = "GET",
              first_page: int | None = None, first: Future[Any] | None = None) -> Iterator[list[dict]]:
        """The pages of a search (``page_token`` until none is returned); ``first_page`` makes the first one smaller.

        ``first``: the answer to the first call, asked for already (:meth:`MlflowConnector.prefetch`)."""
        token = None
        while True:
            query = {**params, **({"page_token": token} if token else {})}
            if first_page and not token:
                query["max_results"] = first_page
            data = first.result() if first is not None and not token else self.search(endpoint, query, method)
            yield data.get(key) or []
            token = data.get("next_page_token")
            if not token:
                return


def _error_of(resp: httpx.Response) -> str:
    try:
        data = resp.json()
        return f"{data.get('error_code', '')}: {data.get('message', '')}".strip(": ")
    except ValueError:
        return resp.text[:300].strip() or resp.reason_phrase


# -- small helpers ------------------------------------------------------------------------------------------------


def _ms(value: Any) -> dt.datetime | None:
    """MLflow's milliseconds since the epoch → a naive UTC datetime."""
    if value in (None, "", 0, "0"):
        return None
    return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC).replace(tzinfo=None)


def _tags(items: Any) -> dict[str, str]:
    return {str(t["key"]): str(t.get("value", "")) for t in items or [] if isinstance(t, dict) and "key" in t}


def _short(*parts: Any) -> str:
    return hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:12]


def version_ref(model: str, version: int | str) -> str:
    """The ``source_ref`` of a model version: MLflow's own URI of it."""
    return f"models:/{model}/{version}"


def _split_version_ref(ref: str) -> tuple[str, str]:
    if not ref.startswith("models:/") or "/" not in ref[8:]:
        raise InputError(f"{ref!r} is not an MLflow model version (expected models:/NAME/VERSION)")
    name, _, number = ref[8:].rpartition("/")
    return name, number


def _quote_filter(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclasses.dataclass
class _State:
    """What the last sync saw (the watermark)."""

    ts: int = 0  # newest last_updated_timestamp seen
    edge: dict[str, int] = dataclasses.field(default_factory=dict)  # "model/version" at exactly ts
    aliases: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # model -> alias -> version
    models: dict[str, str] = dataclasses.field(default_factory=dict)  # model -> short hash of its fields
    retry: list[str] = dataclasses.field(default_factory=list)  # "model/version" to read again

    def dump(self) -> str:
        return canonical_json({"v": WATERMARK_VERSION, "ts": self.ts, "e": self.edge, "a": self.aliases,
                               "m": self.models, "r": sorted(set(self.retry))})

    @classmethod
    def load(cls, text: str | None) -> _State | None:
        data = decode_watermark(text, WATERMARK_VERSION)
        if data is None:
            return None  # none yet, or an older or foreign watermark: do a full pass
        return cls(int(data.get("ts") or 0), data.get("e") or {}, data.get("a") or {}, data.get("m") or {},
                   list(data.get("r") or []))


_MODEL_QUERY: dict[str, Any] = {"max_results": MODEL_PAGE}


def _version_query(incremental: bool) -> dict[str, Any]:
    """The parameters of the version listing (``page_token`` aside). Incremental: newest first, until what the last
    sync saw (its first page is :data:`INCREMENTAL_FIRST_PAGE` long: a re-sync usually finds nothing new). Full:
    oldest first, an order that updates during the listing do not shuffle (offset page tokens would skip a version
    that moved to the front)."""
    order = "last_updated_timestamp DESC" if incremental else "creation_timestamp ASC"
    return {"max_results": VERSION_PAGE, "order_by": [order]}


def _key(v: dict[str, Any]) -> str:
    return f"{v['name']}/{v['version']}"


class _RunReader:
    """Reads runs by id in batches of :data:`RUN_BATCH` (``runs/search``) on a pool, a batch as soon as it is full.

    ``runs/search`` needs the experiment ids: they are listed once, on the pool, by :meth:`start` or the first
    batch. :meth:`result` sends the last partial batch and waits: runs by id, and the ids whose batch (or the
    experiment listing) failed with the reason.
    """

    def __init__(self, connector: MlflowConnector, pool: Executor) -> None:
        self.connector = connector
        self.pool = pool
        self.pending: list[str] = []
        self.sent: set[str] = set()
        self.batches: list[tuple[list[str], Future[tuple[list[dict], str | None]]]] = []
        self.experiments: Future[dict[str, str]] | None = None

    def start(self) -> None:
        if self.experiments is None:
            self.experiments = self.pool.submit(self.connector._experiments)

    def add(self, run_ids: Iterable[str]) -> None:
        for run_id in run_ids:
            if run_id not in self.sent:
                self.sent.add(run_id)
                self.pending.append(run_id)
        while len(self.pending) >= RUN_BATCH:
            self._send(self.pending[:RUN_BATCH])
            del self.pending[:RUN_BATCH]

    def _send(self, batch: list[str]) -> None:
        self.start()
        self.batches.append((sorted(batch), self.pool.submit(self._one, sorted(batch))))

    def _one(self, batch: list[str]) -> tuple[list[dict], str | None]:
        assert self.experiments is not None
        try:
            experiments = sorted(self.experiments.result())
        except ConnectorError:
            return [], None  # reported once by result()
        body = {"experiment_ids": experiments, "max_results": len(batch), "run_view_type": "ALL",
                "filter": f"attributes.run_id IN ({', '.join(_quote_filter(r) for r in batch)})"}
        try:
            return [r for page in self.connector.tracking.pages("runs/search", "runs", body, method="POST")
                    for r in page], None
        except ConnectorError as exc:
            return [], str(exc)

    def result(self) -> tuple[dict[str, RunRecord], dict[str, str]]:
        if self.pending:
            self._send(self.pending)
            self.pending = []
        if not self.batches:
            return {}, {}
        assert self.experiments is not None
        try:
            names = self.experiments.result()
        except ConnectorError as exc:
            return {}, dict.fromkeys(self.sent, str(exc))
        out: dict[str, RunRecord] = {}
        failed: dict[str, str] = {}
        for batch, future in self.batches:
            found, error = future.result()
            if error:
                failed.update(dict.fromkeys(batch, error))
            for r in found:
                out[r["info"]["run_id"]] = self.connector._run_record(r, names)
        return out, failed


# -- the connector -------------------------------------------------------------------------------------------------


class MlflowConnector:
    """One MLflow tracking server (``[[accounts]] connector = "mlflow"``)."""

    kind: ClassVar[str] = "mlflow"
    settings_model: ClassVar[type[MlflowSettings]] = MlflowSettings

    def __init__(self, settings: MlflowSettings, account: AccountInfo, *, root: Path, cache_dir: Path) -> None:
        self.settings = settings
        self.account_name = account.name
        self.environment = account.environment
        self.root = Path(root)
        self.cache_dir = Path(cache_dir)
        self.cache = ContentCache(self.cache_dir, self.kind)
        self.digests = digests.DigestIndex(self.cache_dir, self.kind)
        self.credentials = settings.credentials(account.secrets)
        self.tracking = _Api(account.name, settings.tracking_uri, self.credentials, settings)
        self.registry = (self.tracking if settings.registry == settings.tracking_uri
                         else _Api(account.name, settings.registry, self.credentials, settings))

    def _calls(self) -> tuple[int, int]:
        apis = {id(a): a for a in (self.tracking, self.registry)}.values()
        return sum(a.meter.calls for a in apis), sum(a.meter.throttled for a in apis)

    # -- prefetch ----------------------------------------------------------------------------------------------------

    _early: dict[str, Any] | None = None

    def prefetch(self, *, full: bool = False) -> None:
        """Start the calls every extract makes whatever the watermark says: the model listing (aliases carry no
        timestamp, so every sync reads it) and, unless ``full``, the first page of versions, newest first.

        ``governance.sync`` calls this before it opens the catalog to read the watermarks, so the server answers
        while the file opens. The next :meth:`extract` uses these answers when they are at most
        :data:`PREFETCH_TTL` seconds old (a full pass, decided by the watermark after all, leaves the version page
        unused). Errors surface in that extract, as if it had made the calls itself.
        """
        calls0, throttled0 = self._calls()
        pool = workers.executor(2)
        try:
            early: dict[str, Any] = {
                "at": time.monotonic(), "calls0": calls0, "throttled0": throttled0,
                "models": pool.submit(self.registry.search, "registered-models/search", _MODEL_QUERY),
            }
            if not full:
                early["versions"] = pool.submit(self.registry.search, "model-versions/search",
                                                {**_version_query(True), "max_results": INCREMENTAL_FIRST_PAGE})
        finally:
            pool.shutdown(wait=False)
        self._early = early

    def _take_early(self) -> dict[str, Any]:
        early, self._early = self._early, None
        if early is None or time.monotonic() - early["at"] > PREFETCH_TTL:
            return {}
        return early

    # -- extract ---------------------------------------------------------------------------------------------------

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Records changed since the watermark ``since`` (all of them when ``full`` or ``since`` is None)."""
        early = self._take_early()
        calls0, throttled0 = (early["calls0"], early["throttled0"]) if early else self._calls()
        before = _State.load(None if full else since)
        incremental = before is not None
        old = before or _State()
        if not incremental:
            early.pop("versions", None)  # a page of the incremental order: a full pass lists oldest first
        # the calls that do not depend on each other go side by side (each costs a server round trip): the model
        # listing and the version listing; on a full pass also the experiments, and each batch of runs as soon as
        # the version pages have named a batch's worth (the next pages are read meanwhile)
        pool = workers.executor(self.settings.max_concurrency)
        try:
            return self._extract(old, incremental, pool, progress, calls0, throttled0, early)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _extract(self, old: _State, incremental: bool, pool: Executor, progress: ProgressFn,
                 calls0: int, throttled0: int, early: dict[str, Any]) -> Snapshot:
        new = _State()
        issues: list[SyncIssue] = []
        progress("listing registered models and model versions", 0.02)
        listing = pool.submit(lambda: [m for page in self.registry.pages(
            "registered-models/search", "registered_models", _MODEL_QUERY, first=early.get("models")) for m in page])
        reader = _RunReader(self, pool)
        if not incremental:
            reader.start()
        summaries = self._list_versions(old, new, incremental, reader, early.get("versions"))
        listed = listing.result()
        models: list[ModelRecord] = []
        for m in listed:
            name = m["name"]
            record = self._model_record(m)
            new.models[name] = _short(record.description, record.tags, record.owner, record.risk_tier,
                                      record.intended_use)
            new.aliases[name] = {a["alias"]: str(a["version"]) for a in m.get("aliases") or []}
            if not incremental or old.models.get(name) != new.models[name]:
                models.append(record)

        progress("listed model versions", 0.1)
        # versions whose aliases changed, and versions the last sync could not read, are read again
        again = set(old.retry) if incremental else set()
        if incremental:
            for name in set(old.aliases) | set(new.aliases):
                was, now = old.aliases.get(name, {}), new.aliases.get(name, {})
                for alias in set(was) | set(now):
                    if was.get(alias) != now.get(alias):
                        again.update(f"{name}/{v}" for v in (was.get(alias), now.get(alias)) if v)

        def get(key: str) -> tuple[str, dict[str, Any] | None, str | None]:
            name, _, number = key.rpartition("/")
            try:
                found = self.registry.request("GET", f"{API}/model-versions/get",
                                              params={"name": name, "version": number}, missing_ok=True)
            except ConnectorError as exc:
                return key, None, str(exc)
            return key, (found or {}).get("model_version"), None

        for key, found, error in pool.map(get, sorted(again - set(summaries))):
            if error:
                name, _, number = key.rpartition("/")
                issues.append(SyncIssue(version_ref(name, number), f"not read: {error}"))
                new.retry.append(key)
            elif found:
                summaries[key] = found

        aliases_of: dict[str, list[str]] = collections.defaultdict(list)
        for name, amap in new.aliases.items():
            for alias, number in amap.items():
                aliases_of[f"{name}/{number}"].append(alias)

        progress(f"reading the runs of {len(summaries)} versions", 0.3)
        todo = list(summaries.values())
        reader.add(v["run_id"] for v in todo if v.get("run_id"))
        logged = self._logged_models({v["model_id"] for v in todo if v.get("model_id")}, issues, pool)
        runs, run_problems = reader.result()

        versions: list[VersionRecord] = []
        run_records: dict[str, RunRecord] = {}
        for i, v in enumerate(todo):
            ref = version_ref(v["name"], v["version"])
            try:
                run = runs.get(v.get("run_id") or "")
                if v.get("run_id") and run is None:
                    issues.append(SyncIssue(ref, f"run {v['run_id']} behind the version was not read: "
                                                 f"{run_problems.get(v['run_id'], 'it no longer exists')}"))
                    if v["run_id"] in run_problems:
                        new.retry.append(_key(v))
                        continue  # the server failed us: keep the catalog's row, read it again next time
                record = self._version_record(v, run, logged.get(v.get("model_id") or ""),
                                              sorted(aliases_of.get(_key(v), [])))
            except (ValueError, KeyError, TypeError) as exc:
                issues.append(SyncIssue(ref, f"skipped: {exc}"))
                new.retry.append(_key(v))
                continue
            versions.append(record)
            if run is not None:
                run_records[run.run_ref] = run
            if i % 200 == 0:
                progress(f"mapped {i}/{len(todo)} versions", 0.3 + 0.6 * i / max(len(todo), 1))

        progress(f"reading the artifacts of {len(versions)} versions", 0.92)
        versions = self._with_digests(versions, pool, issues)
        progress("done", 1.0)
        calls1, throttled1 = self._calls()
        return Snapshot(
            models=tuple(models), versions=tuple(versions), runs=tuple(run_records.values()), issues=tuple(issues),
            watermark=new.dump(),
            # a full listing says what exists: versions the catalog has and the server no longer lists were deleted
            complete=not incremental,
            calls=calls1 - calls0, throttled=throttled1 - throttled0,
        )

    def _list_versions(self, old: _State, new: _State, incremental: bool, reader: _RunReader,
                       first: Future[Any] | None = None) -> dict[str, dict[str, Any]]:
        """The versions to emit ("model/version" -> summary); sets ``new.ts`` and ``new.edge``. A full pass hands
        each page's run ids to ``reader`` as it arrives. ``first``: the first page, prefetched."""
        summaries: dict[str, dict[str, Any]] = {}
        newest = 0
        for page in self.registry.pages("model-versions/search", "model_versions", _version_query(incremental),
                                        first_page=INCREMENTAL_FIRST_PAGE if incremental else None, first=first):
            stop = False
            for v in page:
                ts = int(v.get("last_updated_timestamp") or 0)
                if incremental and ts < old.ts:
                    stop = True  # everything further down was seen by the last sync
                    break
                newest = max(newest, ts)
                if incremental and ts == old.ts and old.edge.get(_key(v)) == ts:
                    continue  # seen at the watermark's instant already
                summaries[_key(v)] = v
            if stop:
                break
            if not incremental:
                reader.add(v["run_id"] for v in page if v.get("run_id"))
        new.ts = max(newest, old.ts)
        if incremental:
            new.edge = {k: t for k, t in old.edge.items() if t == new.ts}
        new.edge.update({k: int(v.get("last_updated_timestamp") or 0) for k, v in summaries.items()
                         if int(v.get("last_updated_timestamp") or 0) == new.ts})
        return summaries

    @staticmethod
    def _model_record(m: dict[str, Any]) -> ModelRecord:
        tags = _tags(m.get("tags"))
        return ModelRecord(
            name=m["name"], description=m.get("description") or None,
            owner=tags.get("countersign.owner") or tags.get("owner"),
            risk_tier=tags.get("countersign.risk_tier"), intended_use=tags.get("countersign.intended_use"),
            tags=tags,
        )

    def _experiments(self) -> dict[str, str]:
        """Every experiment of the tracking server: id -> name."""
        return {e["experiment_id"]: e.get("name", "") for page in self.tracking.pages(
            "experiments/search", "experiments", {"max_results": 1000, "view_type": "ALL"}, method="POST")
            for e in page}

    def _runs(self, run_ids: set[str]) -> tuple[dict[str, RunRecord], dict[str, str]]:
        """Runs by id, read in batches; and the ids whose batch failed with the reason."""
        if not run_ids:
            return {}, {}
        with workers.executor(self.settings.max_concurrency) as pool:
            reader = _RunReader(self, pool)
            reader.add(run_ids)
            return reader.result()

    @staticmethod
    def _run_record(r: dict[str, Any], experiment_names: dict[str, str]) -> RunRecord:
        info, data = r.get("info") or {}, r.get("data") or {}
        tags = _tags(data.get("tags"))
        inputs: dict[str, str] = {}
        datasets = []
        for d in (r.get("inputs") or {}).get("dataset_inputs") or []:
            ds = d.get("dataset") or {}
            context = _tags(d.get("tags")).get("mlflow.data.context") or ds.get("name") or "dataset"
            uri = _dataset_uri(ds)
            inputs[context if context not in inputs else f"{context}:{ds.get('name')}"] = uri or ds.get("name") or ""
            datasets.append({"name": ds.get("name"), "digest": ds.get("digest"), "context": context,
                             "source_type": ds.get("source_type"), "uri": uri})
        return RunRecord(
            run_ref=f"run/{info['run_id']}", kind="run", name=info.get("run_name") or tags.get("mlflow.runName")
            or info["run_id"], status=info.get("status"), started_at=_ms(info.get("start_time")),
            ended_at=_ms(info.get("end_time")), params={p["key"]: str(p.get("value", "")) for p in data.get("params") or []},
            metrics={m["key"]: float(m["value"]) for m in data.get("metrics") or [] if _is_number(m.get("value"))},
            inputs=inputs, experiment=experiment_names.get(str(info.get("experiment_id")), str(info.get("experiment_id"))),
            raw={"run_id": info["run_id"], "experiment_id": info.get("experiment_id"),
                 "artifact_uri": info.get("artifact_uri"), "user": info.get("user_id") or tags.get("mlflow.user"),
                 "lifecycle_stage": info.get("lifecycle_stage"), "tags": tags, "datasets": datasets},
        )

    def _logged_models(self, model_ids: set[str], issues: list[SyncIssue],
                       pool: Executor | None = None) -> dict[str, dict[str, Any]]:
        """MLflow 3 logged models by id (params, metrics, tags, artifact location)."""
        def one(model_id: str) -> tuple[str, dict[str, Any] | None, str | None]:
            try:
                got = self.tracking.request("GET", f"{API}/logged-models/{quote(model_id, safe='')}", missing_ok=True)
            except ConnectorError as exc:
                return model_id, None, str(exc)
            return model_id, (got or {}).get("model"), None

        out: dict[str, dict[str, Any]] = {}
        if not model_ids:
            return out
        with contextlib.ExitStack() as stack:
            if pool is None:
                pool = stack.enter_context(workers.executor(self.settings.max_concurrency))
            for model_id, model, error in pool.map(one, sorted(model_ids)):
                if error:
                    issues.append(SyncIssue(f"logged-model/{model_id}", f"not read: {error}"))
                elif model:
                    out[model_id] = model
        return out

    def _version_record(self, v: dict[str, Any], run: RunRecord | None, logged: dict[str, Any] | None,
                        aliases: list[str]) -> VersionRecord:
        tags = _tags(v.get("tags"))
        status = tags.get(TAG_APPROVAL, "PendingManualApproval")
        if status not in APPROVAL_STATUSES:
            raise ValueError(f"tag {TAG_APPROVAL}={status!r} is not one of {', '.join(APPROVAL_STATUSES)}")
        created = _ms(v.get("creation_timestamp"))
        if created is None:
            raise ValueError("the version has no creation_timestamp")
        metrics = dict(run.metrics) if run else {}
        if logged:
            data = logged.get("data") or {}
            metrics.update({m["key"]: float(m["value"]) for m in data.get("metrics") or [] if _is_number(m.get("value"))})
        data_uris = {k[len(TAG_DATA):]: val for k, val in tags.items() if k.startswith(TAG_DATA) and val}
        for ds in (run.raw.get("datasets") if run else None) or []:
            key = _CONTEXTS.get(str(ds.get("context") or "").lower())
            if key and ds.get("uri") and _fetchable(ds["uri"]):
                data_uris.setdefault(key, ds["uri"])
        environment = next((self.settings.alias_environments[a] for a in self.settings.alias_environments
                            if a in aliases), None)
        source = v.get("source") or None
        if v.get("model_id") and (not source or source.startswith("models:/")):
            source = f"models:/{v['model_id']}"
        raw = {k: val for k, val in v.items() if k not in ("tags", "run_link")}
        raw.update(tags=tags, aliases=aliases)
        if logged:
            info = logged.get("info") or {}
            raw["logged_model"] = {"model_id": info.get("model_id"), "name": info.get("name"),
                                   "artifact_uri": info.get("artifact_uri"), "source_run_id": info.get("source_run_id"),
                                   "params": {p["key"]: p.get("value") for p in (logged.get("data") or {}).get("params") or []}}
        return VersionRecord(
            model=v["name"], version=int(v["version"]), source_ref=version_ref(v["name"], v["version"]),
            approval_status=status, approval_description=tags.get(TAG_APPROVAL_DESCRIPTION),
            created_at=created, modified_at=_ms(v.get("last_updated_timestamp")),
            created_by=v.get("user_id") or (run.raw.get("user") if run else None) or None,
            artifact_uri=source, framework=tags.get(TAG_FRAMEWORK) or (_framework(run) if run else None),
            data_uris=data_uris, metrics=metrics, metadata=tags, run_ref=run.run_ref if run else None,
            source_version_ref=tags.get(TAG_SOURCE_REF), source_account=tags.get(TAG_SOURCE_ACCOUNT),
            labels=tuple(aliases), environment=environment, raw=raw,
        )

    # -- fetch -------------------------------------------------------------------------------------------------------

    def _artifact_path(self, uri: str) -> str:
        """The path under the server's artifact proxy that ``uri`` names; refuses what this account cannot reach."""
        parts = urlsplit(uri)
        if parts.scheme == "mlflow-artifacts":
            if parts.netloc:
                mine = urlsplit(self.settings.tracking_uri).netloc
                if parts.netloc != mine:
                    raise InputError(f"{uri!r} names the artifact proxy of {parts.netloc}, not this account's "
                                     f"server {mine}")
            path = unquote(parts.path).lstrip("/")
        elif parts.scheme == "runs":
            run_id, _, rel = unquote(parts.netloc + parts.path).lstrip("/").partition("/")
            run = self.tracking.get("runs/get", run_id=run_id)["run"]
            base = run["info"].get("artifact_uri") or ""
            path = self._artifact_path(base + "/" + rel if rel else base)
        elif parts.scheme == "models":
            body = unquote(parts.netloc + parts.path).lstrip("/")
            if body.startswith("m-") and "/" not in body.strip("/"):
                model = self.tracking.get(f"logged-models/{quote(body.strip('/'), safe='')}")["model"]
                path = self._artifact_path(model["info"]["artifact_uri"])
            else:
                name, number = self._model_version_of(body)
                got = self.registry.get("model-versions/get-download-uri", name=name, version=number)
                target = got.get("artifact_uri") or ""
                if target.startswith("models:/"):
                    raise InputError(f"{uri!r} resolves to {target!r} again")
                path = self._artifact_path(target)
        else:
            raise InputError(
                f"{uri!r} is not reachable through account {self.account_name!r}'s MLflow artifact proxy (expected "
                "mlflow-artifacts:/, runs:/ or models:/; start the server with --serve-artifacts so runs log there)")
        pure = PurePosixPath(path)
        if not path or pure.is_absolute() or ".." in pure.parts:
            raise InputError(f"{uri!r}: artifact paths may not leave the artifact store")
        return path.strip("/")

    def _model_version_of(self, body: str) -> tuple[str, str]:
        name, sep, rest = body.rpartition("@")
        if sep:  # models:/name@alias
            got = self.registry.get("registered-models/alias", name=name, alias=rest)
            return name, str(got["model_version"]["version"])
        name, _, number = body.rpartition("/")
        if not name or not number.isdigit():
            raise InputError(f"models:/{body} is not models:/NAME/VERSION, models:/NAME@ALIAS or models:/m-ID")
        return name, number

    def _list(self, path: str) -> list[dict[str, Any]]:
        data = self.tracking.request("GET", ARTIFACTS_API, params={"path": path})
        return data.get("files") or []

    def _tree(self, path: str) -> list[tuple[str, int | None]]:
        """Every file under the artifact directory ``path`` (relative paths and sizes); [] when it is a file."""
        out: list[tuple[str, int | None]] = []
        pending = [""]
        while pending:
            rel = pending.pop()
            for f in self._list(f"{path}/{rel}".rstrip("/")):
                child = f"{rel}/{f['path'].rsplit('/', 1)[-1]}".lstrip("/")
                if f.get("is_dir"):
                    pending.append(child)
                else:
                    out.append((child, f.get("file_size")))
        return sorted(out)

    def _download(self, path: str) -> Path:
        """The artifact file at ``path`` in the content-addressed cache (hashed as it streams in: the file's name is
        the sha256 of the very bytes written to it). A file the proxy still serves unchanged (the same ETag,
        Last-Modified and length) is read from the cache, not downloaded again."""
        missing = f"account {self.account_name!r}: no artifact {path!r} on {self.settings.tracking_uri}"
        try:
            head = self._head(path)
        except NotFound:
            raise NotFound(missing) from None
        # a proxy that names no ETag, date or length gives nothing to tell versions apart: download every time
        marker = f"{self.settings.tracking_uri}|{path}|{head}" if head.strip("|") else None
        cached = self.cache.lookup(marker) if marker else None
        if cached is not None:
            return cached

        def download(tmp: Path) -> str:
            got = self.tracking.request("GET", f"{ARTIFACTS_API}/{quote(path)}", stream_to=tmp, missing_ok=True)
            if got is None:
                raise NotFound(missing)
            return got["sha256"]

        stored = self.cache.store_hashed(download, "".join(PurePosixPath(path).suffixes[-2:])[:24])
        if marker:
            self.cache.remember(marker, stored)
        return stored

    def fetch(self, uri: str) -> Path:
        """A local copy of the artifact at ``uri`` (``mlflow-artifacts:/``, ``runs:/``, ``models:/``) in the cache.

        A model directory (an MLflow model with its ``MLmodel`` file) gives its model file: a format Countersign
        loads without running code when there is one (skops, XGBoost, LightGBM, ONNX), else the flavor's own file
        (a pickle, which the loader then refuses with the conversion hint).
        """
        path = self._artifact_path(uri)
        files = self._tree(path)
        if not files:
            return self._download(path)
        return self._download(f"{path}/{_model_file(files, self._mlmodel(path, files))}")

    def _mlmodel(self, path: str, files: list[tuple[str, int | None]]) -> str:
        if not any(f == "MLmodel" for f, _ in files):
            raise InputError(f"{path!r} is a directory without an MLmodel file; name one file in it")
        return self._download(f"{path}/MLmodel").read_text(encoding="utf-8", errors="replace")

    # -- artifact digests (connectors.base.ArtifactReader) ----------------------------------------------------------

    def artifact_digest(self, version: VersionRecord, *, fresh: bool = False) -> ArtifactDigest:
        """Countersign's sha256 of ``version``'s artifact read through the artifact proxy: of the file, or of the
        model directory (every file, ``connectors.digests.manifest_digest``). The identity is the listing (paths,
        sizes) and each file's ETag and Last-Modified as the proxy answers a HEAD; read again when it changed."""
        if not version.artifact_uri:
            return digests.unreadable("the version names no model artifact")
        try:
            path = self._digest_path(version)
        except CountersignError as exc:
            return digests.unreadable(str(exc))
        return self._path_digest(path, fresh=fresh)

    def _digest_path(self, version: VersionRecord) -> str:
        """The proxy path of ``version``'s artifact; the logged model the sync read already saves a call."""
        uri = version.artifact_uri or ""
        logged = (version.raw or {}).get("logged_model") or {}
        if uri.startswith("models:/m-") and logged.get("artifact_uri"):
            uri = logged["artifact_uri"]
        return self._artifact_path(uri)

    def _head(self, path: str) -> str:
        """What identifies the file at ``path`` now: its ETag, Last-Modified and length as the proxy serves it."""
        headers = self.tracking.request("HEAD", f"{ARTIFACTS_API}/{quote(path)}", missing_ok=True)
        if headers is None:
            raise NotFound(f"no artifact {path!r} on {self.settings.tracking_uri}")
        return "|".join(headers.get(h, "") for h in ("etag", "last-modified", "content-length"))

    def _file_digest(self, path: str) -> str:
        got = self.tracking.request("GET", f"{ARTIFACTS_API}/{quote(path)}", hashed=True, missing_ok=True)
        if got is None:
            raise NotFound(f"no artifact {path!r} on {self.settings.tracking_uri}")
        return got["sha256"]

    def _path_digest(self, path: str, *, fresh: bool = False) -> ArtifactDigest:
        """The digest of the artifact file or directory at proxy path ``path``."""
        try:
            files = self._tree(path)
            heads = [(rel, size, self._head(f"{path}/{rel}")) for rel, size in files] or [("", None, self._head(path))]
        except CountersignError as exc:
            return digests.unreadable(str(exc))
        identity = canonical_json([self.settings.tracking_uri, path, heads])
        # a proxy that dates no file (neither ETag nor Last-Modified) cannot vouch for a remembered reading
        fresh = fresh or any(head.startswith("||") for _, _, head in heads)
        if not files:
            return self.digests.observe(identity, lambda: self._file_digest(path), fresh=fresh)
        return self.digests.observe(identity, lambda: digests.manifest_digest(
            (rel, self._file_digest(f"{path}/{rel}")) for rel, _ in files), fresh=fresh)

    def _with_digests(self, records: list[VersionRecord], pool: Executor,
                      issues: list[SyncIssue]) -> list[VersionRecord]:
        """``records`` with their artifacts' digests, read side by side on ``pool``."""
        if not digests.ENABLED:
            return records
        observed = list(pool.map(self.artifact_digest, records))
        return [digests.settle(r, d, r.metadata.get(TAG_ARTIFACT_SHA256), issues)
                for r, d in zip(records, observed, strict=True)]

    # -- promotion (connectors.base.Promoter) ---------------------------------------------------------------------

    def _get_version(self, name: str, number: str | int) -> dict[str, Any]:
        return self.registry.get("model-versions/get", name=name, version=str(number))["model_version"]

    def read_version(self, name: str, number: str | int) -> VersionRecord:
        """One version as a sync would map it (its run, logged model and aliases read now)."""
        v = self._get_version(name, number)
        runs, problems = self._runs({v["run_id"]} if v.get("run_id") else set())
        if problems:
            raise ConnectorError(next(iter(problems.values())))
        issues: list[SyncIssue] = []
        logged = self._logged_models({v["model_id"]} if v.get("model_id") else set(), issues)
        try:
            record = self._version_record(v, runs.get(v.get("run_id") or ""), logged.get(v.get("model_id") or ""),
                                          sorted(v.get("aliases") or []))
        except ValueError as exc:
            raise ConnectorError(f"{version_ref(name, number)}: {exc}") from None
        if not digests.ENABLED:
            return record
        return digests.settle(record, self.artifact_digest(record), record.metadata.get(TAG_ARTIFACT_SHA256))

    def _set_tags(self, name: str, number: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.registry.post("model-versions/set-tag", {"name": name, "version": number, "key": key,
                                                          "value": value})

    def _touch(self, name: str, number: str, description: str | None) -> None:
        # tags and aliases change no timestamp; rewriting the description does, so an incremental sync sees the write
        self.registry.request("PATCH", f"{API}/model-versions/update",
                              body={"name": name, "version": number, "description": description or ""})

    def set_approval(self, version: VersionRecord, status: str, description: str) -> VersionRecord:
        """Write ``status`` and ``description`` as the version's countersign.approval tags; return it as re-read."""
        require_approval_status(status)
        name, number = _split_version_ref(version.source_ref)
        current = self._get_version(name, number)
        self._set_tags(name, number, {TAG_APPROVAL: status, TAG_APPROVAL_DESCRIPTION: description[:5000]})
        self._touch(name, number, current.get("description"))
        after = self.read_version(name, number)
        if after.approval_status != status:
            raise ConnectorError(f"{version.source_ref}: approval reads back as {after.approval_status!r} after "
                                 f"writing {status!r}; another writer may be changing it; retry")
        return after

    def _same_server(self, other: Connector) -> bool:
        return isinstance(other, MlflowConnector) and other.settings.registry == self.settings.registry

    def register_copy(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef, *,
                      environment: str | None = None) -> VersionRecord:
        """Promote ``source`` into this account, once per request id (a retry returns the same version).

        Same server (one registry whose aliases mean environments): move the alias of ``environment`` (default:
        this account's) onto the source version and tag it with the request. Another server: register a copy —
        artifacts copied through both artifact proxies into a run of the experiment "Countersign promotions", then a
        version of the same model name tagged with its provenance.
        """
        if self._same_server(source_connector):
            return self._move_alias(source, ref, environment or ref.environment or self.environment)
        existing = self.find_copy(source.model, ref.request_id)
        if existing is not None:  # a retry: the copy made before still holds the approved bytes, or it is refused
            copy = self.artifact_digest(existing, fresh=True)
            digests.require(ref.artifact_sha256, copy, f"the copy {existing.artifact_uri} on {self.settings.registry}")
            return digests.settle(existing, copy, existing.metadata.get(TAG_ARTIFACT_SHA256))
        if not source.artifact_uri:
            raise ConnectorError(f"{source.source_ref} has no model artifact to promote")
        # the source's bytes are downloaded and checked before anything is written on this server
        staged = self._stage(source, source_connector, ref)
        run_id, artifact_root = self._promotion_run(source, source_connector, ref)
        model_uri = self._upload_model(staged, artifact_root)
        data_tags = {TAG_ARTIFACT_SHA256: staged.digest}
        for key, uri in sorted(source.data_uris.items()):
            if key in ("reference", "validation"):
                data_tags[TAG_DATA + key] = self._copy_file(source_connector, uri, f"{artifact_root}/data", key)
        try:
            self.registry.post("registered-models/create", {"name": source.model})
        except ConnectorError as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc):
                raise
        tags = {k: val for k, val in source.metadata.items()
                if not k.startswith("countersign.") or k.startswith(TAG_DATA) or k == TAG_FRAMEWORK}
        tags.update(data_tags)
        tags.update(self._provenance(ref, source_connector))
        tags.update({TAG_APPROVAL: "Approved",
                     TAG_APPROVAL_DESCRIPTION: f"Promoted by Countersign request {ref.request_id}"})
        # the request id travels with the create call itself: the version and its provenance appear together
        created = self.registry.post("model-versions/create", {
            "name": source.model, "source": model_uri, "run_id": run_id,
            "description": f"Promoted by Countersign from {ref.source_ref} (request {ref.request_id})",
            "tags": [{"key": k, "value": str(val)[:5000]} for k, val in tags.items() if val],
        })["model_version"]
        return self.read_version(source.model, created["version"])

    def _provenance(self, ref: PromotionRef, source_connector: Connector) -> dict[str, str]:
        server = source_connector.settings.registry if isinstance(source_connector, MlflowConnector) else ""
        return {TAG_REQUEST: ref.request_id, TAG_LEDGER: ref.ledger_hash or "", TAG_SOURCE_REF: ref.source_ref,
                TAG_SOURCE_ACCOUNT: ref.source_account, TAG_SOURCE_SERVER: server,
                TAG_APPROVED_BY: ",".join(ref.approved_by)}

    def find_copy(self, model: str, request_id: str) -> VersionRecord | None:
        """The version of ``model`` that a promotion with ``request_id`` registered here, if any."""
        flt = f"name={_quote_filter(model)} and tags.`{TAG_REQUEST}` = {_quote_filter(request_id)}"
        found = [v for page in self.registry.pages("model-versions/search", "model_versions",
                                                   {"filter": flt, "max_results": VERSION_PAGE}) for v in page]
        if not found:
            return None
        first = min(found, key=lambda v: int(v["version"]))
        return self.read_version(model, first["version"])

    def _move_alias(self, source: VersionRecord, ref: PromotionRef, environment: str) -> VersionRecord:
        alias = self.settings.alias_for(environment)
        if alias is None:
            raise ConfigError(f"account {self.account_name!r}: no alias means environment {environment!r}; add it "
                              "to alias_environments (e.g. alias_environments = { champion = \"prod\" })")
        name, number = _split_version_ref(source.source_ref)
        # the bytes the alias will point at, read again now: an alias never moves onto other bytes than approved
        digests.require(ref.artifact_sha256, self.artifact_digest(source, fresh=True),
                        f"the artifact of {source.source_ref} that alias {alias!r} would point at")
        current = self._get_version(name, number)
        tags = self._provenance(ref, self)
        tags.pop(TAG_SOURCE_SERVER)
        tags[TAG_PROMOTED_ALIAS] = alias
        # tags first, alias last: after a crash in between, the retry writes the same tags again and moves the alias
        self._set_tags(name, number, {k: val for k, val in tags.items() if val})
        self.registry.post("registered-models/alias", {"name": name, "alias": alias, "version": number})
        self._touch(name, number, current.get("description"))
        return self.read_version(name, number)

    def _promotion_run(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> tuple[str, str]:
        """The run holding this request's copy (found again by its tag on a retry): (run id, artifact root path)."""
        got = self.tracking.request("GET", f"{API}/experiments/get-by-name",
                                    params={"experiment_name": PROMOTION_EXPERIMENT}, missing_ok=True)
        if got:
            experiment = got["experiment"]["experiment_id"]
        else:
            try:
                experiment = self.tracking.post("experiments/create", {"name": PROMOTION_EXPERIMENT})["experiment_id"]
            except ConnectorError as exc:
                if "RESOURCE_ALREADY_EXISTS" not in str(exc):
                    raise
                experiment = self.tracking.get("experiments/get-by-name",
                                               experiment_name=PROMOTION_EXPERIMENT)["experiment"]["experiment_id"]
        flt = f"tags.`{TAG_REQUEST}` = {_quote_filter(ref.request_id)}"
        found = self.tracking.post("runs/search", {"experiment_ids": [experiment], "filter": flt, "max_results": 10,
                                                   "order_by": ["attributes.start_time ASC"]}).get("runs") or []
        if found:
            info = found[0]["info"]
        else:
            params: dict[str, str] = {}
            if isinstance(source_connector, MlflowConnector) and source.run_ref:
                runs, _ = source_connector._runs({source.run_ref.split("/", 1)[1]})
                params = next(iter(runs.values())).params if runs else {}
            tags = {**self._provenance(ref, source_connector), "mlflow.runName": f"promote {source.model} "
                    f"v{source.version} ({ref.request_id})"[:250]}
            info = self.tracking.post("runs/create", {
                "experiment_id": experiment, "run_name": tags["mlflow.runName"],
                "start_time": int(time.time() * 1000),
                "tags": [{"key": k, "value": val} for k, val in tags.items() if val],
            })["run"]["info"]
            now = int(time.time() * 1000)
            metrics = [{"key": k, "value": val, "timestamp": now, "step": 0} for k, val in sorted(source.metrics.items())]
            plist = [{"key": k, "value": str(val)[:6000]} for k, val in sorted(params.items())]
            for i in range(0, max(len(metrics), len(plist)), 100):
                self.tracking.post("runs/log-batch", {"run_id": info["run_id"], "metrics": metrics[i:i + 100],
                                                      "params": plist[i:i + 100]})
            self.tracking.post("runs/update", {"run_id": info["run_id"], "status": "FINISHED", "end_time": now})
        return info["run_id"], self._artifact_path(info["artifact_uri"])

    def _upload(self, local: Path, path: str) -> None:
        with open(local, "rb") as fh:
            self.tracking.request("PUT", f"{ARTIFACTS_API}/{quote(path)}", content=fh.read())

    def _stage(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> _Staged:
        """Download ``source``'s model (a directory, or one file) into the cache, hashing it as it streams in, and
        refuse it unless it is what ``ref`` approved; nothing is written to this server."""
        if isinstance(source_connector, MlflowConnector):
            src = source_connector._digest_path(source)
            tree = source_connector._tree(src)
            if tree:
                files = [(rel, source_connector._download(f"{src}/{rel}")) for rel, _ in tree]
                # a downloaded file's name is the sha256 of the bytes streamed into it (_download)
                digest = digests.manifest_digest((rel, local.name[:64]) for rel, local in files)
                digests.require(ref.artifact_sha256, digest, f"the source model {source.artifact_uri} "
                                                             f"(account {ref.source_account})")
                return _Staged(files, digest, directory=True)
            local = source_connector._download(src)
        else:
            local = source_connector.fetch(source.artifact_uri or "")
        digest = sha256_file(local)
        digests.require(ref.artifact_sha256, digest,
                        f"the source artifact {source.artifact_uri} (account {ref.source_account})")
        name = PurePosixPath(urlsplit(source.artifact_uri or "").path).name or "model"
        return _Staged([(name, local)], digest, directory=False)

    def _upload_model(self, staged: _Staged, artifact_root: str) -> str:
        """Upload the staged model under ``artifact_root/model``, read it back through this server's proxy and
        refuse a copy whose digest differs; its new URI."""
        if staged.directory:
            path = f"{artifact_root}/model"
            for rel, local in staged.files:
                self._upload(local, f"{path}/{rel}")
        else:
            path = f"{artifact_root}/model/{staged.files[0][0]}"
            self._upload(staged.files[0][1], path)
        digests.require(staged.digest, self._path_digest(path, fresh=True),
                        f"the copy mlflow-artifacts:/{path} on {self.settings.tracking_uri}, read back")
        return f"mlflow-artifacts:/{path}"

    def _copy_file(self, source_connector: Connector, uri: str, folder: str, key: str) -> str:
        local = source_connector.fetch(uri)
        suffix = "".join(PurePosixPath(urlsplit(uri).path).suffixes[-2:]) or local.suffix
        target = f"{folder}/{key}{suffix}"
        self._upload(local, target)
        return f"mlflow-artifacts:/{target}"


# -- module helpers ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Staged:
    """A model downloaded for a promotion and checked: (relative path or file name, local file) pairs, its digest."""

    files: list[tuple[str, Path]]
    digest: str
    directory: bool


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _dataset_uri(ds: dict[str, Any]) -> str | None:
    """The URI a run's dataset input points to (its ``source`` JSON's uri/url/path), if any."""
    try:
        src = json.loads(ds.get("source") or "{}")
    except ValueError:
        return None
    if not isinstance(src, dict):
        return None
    for key in ("uri", "url", "path"):
        if isinstance(src.get(key), str) and src[key]:
            return src[key]
    return None


def _fetchable(uri: str) -> bool:
    return urlsplit(uri).scheme in ("mlflow-artifacts", "runs", "models")


def _framework(run: RunRecord) -> str | None:
    """The flavors of an MLflow 2 ``mlflow.log-model.history`` run tag, e.g. ``sklearn 1.5.2``."""
    history = run.raw.get("tags", {}).get("mlflow.log-model.history")
    if not history:
        return None
    try:
        entries = json.loads(history)
        flavors = entries[-1].get("flavors") or {}
    except (ValueError, AttributeError, IndexError, TypeError):
        return None
    for name, spec in flavors.items():
        if name != "python_function" and isinstance(spec, dict):
            version = next((val for k, val in spec.items() if k.endswith("_version") and isinstance(val, str)), "")
            return f"{name} {version}".strip()
    return None


def _model_file(files: list[tuple[str, int | None]], mlmodel: str) -> str:
    """The file of an MLflow model directory that holds the model: a safe format first, else the flavor's file."""
    names = [f for f, _ in files if f != "MLmodel"]
    for suffix in _SAFE_MODEL_FILES:
        for f in names:
            if f.endswith(suffix) and not f.startswith(("code/", "artifacts/")) and f not in (
                    "conda.yaml", "python_env.yaml", "input_example.json", "serving_input_example.json",
                    "registered_model_meta"):
                return f
    # MLmodel is YAML; the flavor's file sits under a key such as pickled_model / data / model_path
    for key in ("pickled_model", "data", "model_path", "python_model"):
        for line in mlmodel.splitlines():
            m = re.match(rf"^\s+{key}:\s*(\S+)\s*$", line)
            if m and m.group(1) in names:
                return m.group(1)
    for f in names:
        if f.endswith((".pkl", ".pickle", ".joblib", ".cloudpickle")):
            return f
    raise InputError(f"no model file found among {', '.join(names) or 'no files'}")

