"""ZenML connector: one ZenML server's Model Control Plane — models, versions and stages, pipeline runs, metadata.

Everything goes over ZenML's REST API (``/api/v1/``) with ``httpx``; the ``zenml`` package is not needed (it
weighs ~220 MB with its server extras and pins versions that clash with the portal's; see docs/zenml.md).

Authentication: a service account's API key (``ZENKEY_…``), read at the edge from the environment variable the
account names (``api_key_env``) and handed to the connector as a value, is exchanged at ``POST /api/v1/login`` for a
bearer token. Logging in costs ~2 s on the server (the key is hashed), so tokens are kept per (server, key) for the
life of the process; an answer 401 (expired or revoked token) logs in again once, and a second 401 is a clear
:class:`ConnectorError` naming the variable.

Incremental sync. Every listing is sorted by update time and filtered with ``updated=gte:<cut>``, where the cut is
the newest update time the previous sync saw minus a small overlap (ZenML filters by whole seconds, and a write
committed late may carry an earlier time). Items seen in the overlap with the same update time are skipped, so a
re-sync with no change returns nothing. A stage move updates both the version that gains the stage and the one
ZenML archives. Run metadata written alone does not change a version's update time (ZenML 0.98): Countersign's own
writes touch the version too; other metadata-only edits are picked up by the next full pass, like SageMaker's.

Stages: ``VersionRecord.labels`` is ``(stage,)``; with ``stage_environments`` a staged version names the environment
it is in (``staging -> staging``, ``production -> prod``), so one server can hold several environments.

Approvals: ZenML's open-source server has none. A version's approval status is its run metadata
``countersign.approval`` (written by Countersign's ``set_approval`` and by promotion), else
``PendingManualApproval``: a version in ZenML's ``production`` stage is not approved unless Countersign said so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator

from connectors import digests
from connectors.base import (
    APPROVAL_STATUSES,
    AccountInfo,
    ArtifactDigest,
    ArtifactReader,
    Connector,
    ConnectorSettings,
    ModelCardRecord,
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
from core.errors import ConfigError, ConnectorError, InputError, NotFound
from core.progress import ProgressFn, no_progress

WATERMARK_VERSION = 1
STAGES = ("staging", "production", "archived")
META_APPROVAL = "countersign.approval"
META_APPROVAL_DESCRIPTION = "countersign.approval_description"
META_REQUEST = "countersign.request_id"
META_LEDGER = "countersign.ledger_hash"
META_APPROVED_BY = "countersign.approved_by"
META_SOURCE_REF = "countersign.source_ref"
META_SOURCE_ACCOUNT = "countersign.source_account"
META_CREATED_BY = "countersign.created_by"
META_ARTIFACT = "countersign.artifact_uri"
META_ARTIFACT_SHA256 = "countersign.artifact_sha256"  # the digest of the bytes a promotion checked (registry digest)
META_DATA = "countersign.data."  # countersign.data.reference = <uri> names a dataset of the version
OVERLAP = dt.timedelta(seconds=2)
_FILTER_TIME = "%Y-%m-%d %H:%M:%S"  # ZenML's FILTERING_DATETIME_FORMAT
_ONEOF_CHUNK = 40
_MODEL_FILES = ("model.skops", "model.json", "model.ubj", "model.txt")


class ZenMLSettings(ConnectorSettings):
    """The settings of one ``connector = "zenml"`` account."""

    url: str = Field(min_length=1)  # the server, e.g. https://zenml.example.com
    api_key_env: str = Field(min_length=1)  # the environment variable holding a service account's API key
    project: str = "default"
    insecure_tls: bool = False  # skip TLS verification (a test server with a self-signed certificate only)
    ca_bundle: str | None = None  # a CA bundle file to verify the server with (default: the system's)
    # ZenML stage -> Countersign environment, when one server holds several environments
    stage_environments: dict[str, str] = Field(default_factory=dict)
    # the stage a promotion into this account sets when its environment is not in stage_environments
    promotion_stage: str = "production"
    # local artifact store paths are fetched only under this folder (relative to the workspace)
    artifact_root: str | None = None
    page_size: int = Field(default=200, ge=1, le=1000)
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("stage_environments")
    @classmethod
    def _known_stages(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [s for s in v if s not in STAGES]
        if bad:
            raise ValueError(f"unknown ZenML stage {bad[0]!r} (stages: {', '.join(STAGES)})")
        if len(set(v.values())) != len(v):
            raise ValueError("two stages map to the same environment")
        return v

    @field_validator("promotion_stage")
    @classmethod
    def _known_stage(cls, v: str) -> str:
        if v not in ("staging", "production"):
            raise ValueError("promotion_stage must be 'staging' or 'production'")
        return v

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if urlsplit(v).scheme not in ("http", "https") or not urlsplit(v).netloc:
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v.rstrip("/")

    def environments(self) -> tuple[str, ...]:
        """The environments this account can hold besides its own (the values of ``stage_environments``)."""
        return tuple(self.stage_environments.values())

    def label_environment(self, label: str) -> str | None:
        return self.stage_environments.get(label)

    def secret_env(self) -> tuple[str, ...]:
        """The API key's variable, read at the edge."""
        return (self.api_key_env,)

    def data_hint(self, key: str) -> str | None:
        return (f"link a data artifact named {key!r} to the model version, or set its run metadata "
                f"{META_DATA}{key} = the dataset's URI")

    def location(self) -> str | None:
        return f"{self.url} ({self.project})"

    def stage_for(self, environment: str) -> str:
        """The stage that puts a version into ``environment``."""
        for stage, env in self.stage_environments.items():
            if env == environment:
                return stage
        return self.promotion_stage


# -- HTTP: one token per (server, key) for the process; 401 logs in again once ---------------------------------

_TOKENS: dict[str, str] = {}
_PROJECTS: dict[tuple[str, str], str] = {}  # (server, project name) -> id, for the life of the process
_TOKENS_LOCK = threading.Lock()


_HTTP: Pool[httpx.Client] = Pool(close=httpx.Client.close)


def forget_tokens() -> None:
    """Drop every cached access token (the next call logs in again) and the pooled connections."""
    with _TOKENS_LOCK:
        _TOKENS.clear()
        _PROJECTS.clear()
    _HTTP.clear()


def _shared_http(url: str, verify: bool | str, timeout: float) -> httpx.Client:
    """One pooled httpx client per (server, TLS setting, timeout) for the process: a re-sync reuses its
    connections, and does not pay for a new client (~40 ms here: httpx loads the CA bundle for every client)."""
    return _HTTP.get((url, repr(verify), timeout), lambda: httpx.Client(
        base_url=url + "/api/v1", verify=verify, timeout=timeout, headers={"User-Agent": "countersign"},
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16)))


class ZenMLClient:
    """A thin REST client of one ZenML server, logged in with a service account's API key."""

    def __init__(self, url: str, api_key: str, *, key_name: str, verify: bool | str = True,
                 timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._key_name = key_name
        self._cache_key = hashlib.sha256(f"{self.url}\0{api_key}".encode()).hexdigest()
        self._http = _shared_http(self.url, verify, timeout)
        self.calls = 0
        self._count_lock = threading.Lock()

    def _count(self) -> None:
        with self._count_lock:
            self.calls += 1

    def close(self) -> None:
        """Nothing to release: the connections are pooled for the process (:func:`forget_tokens` closes them)."""

    def _login(self) -> str:
        self._count()
        try:
            r = self._http.post("/login", data={"password": self._api_key})
        except httpx.HTTPError as exc:
            raise ConnectorError(f"ZenML server {self.url} unreachable: {type(exc).__name__}: {exc}") from None
        if r.status_code in (401, 403):
            raise ConnectorError(
                f"ZenML server {self.url} refused the API key in ${self._key_name} ({_detail(r)}): the key is wrong, "
                "revoked, expired or its service account is deactivated; create a new key "
                "(zenml service-account api-key <account> create) and set the variable"
            )
        if r.status_code >= 400:
            raise ConnectorError(f"ZenML login at {self.url} failed: HTTP {r.status_code} {_detail(r)}")
        token = r.json().get("access_token")
        if not token:
            raise ConnectorError(f"ZenML login at {self.url} returned no access token")
        with _TOKENS_LOCK:
            _TOKENS[self._cache_key] = token
        return token

    def _token(self) -> str:
        with _TOKENS_LOCK:
            token = _TOKENS.get(self._cache_key)
        return token or self._login()

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, allow: tuple[int, ...] = ()) -> Any:
        """One API call (path under /api/v1); JSON answer. A 401 logs in again once; other errors raise."""
        for attempt in (0, 1):
            token = self._token()
            self._count()
            try:
                r = self._http.request(method, path, params=params, json=json_body,
                                       headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                raise ConnectorError(f"ZenML {method} {path} at {self.url}: {type(exc).__name__}: {exc}") from None
            if r.status_code == 401 and attempt == 0:
                with _TOKENS_LOCK:
                    if _TOKENS.get(self._cache_key) == token:
                        del _TOKENS[self._cache_key]
                continue
            if r.status_code == 401:
                raise ConnectorError(f"ZenML server {self.url} refused the token from ${self._key_name} after a fresh "
                                     f"login ({_detail(r)}): the key was revoked or its service account deactivated")
            if r.status_code in allow:
                return None
            if r.status_code == 403:
                raise ConnectorError(f"ZenML {method} {path}: the service account of ${self._key_name} lacks "
                                     f"permission ({_detail(r)})")
            if r.status_code == 404:
                raise NotFound(f"ZenML {method} {path} at {self.url}: not found ({_detail(r)})")
            if r.status_code >= 400:
                raise ConnectorError(f"ZenML {method} {path} at {self.url}: HTTP {r.status_code} {_detail(r)}")
            return r.json() if r.content else None
        raise AssertionError("unreachable")

    def pages(self, path: str, params: Mapping[str, Any], size: int) -> Iterator[dict[str, Any]]:
        """Every item of a paged listing (``page``/``size``; ``total_pages`` from the first answer)."""
        page = 1
        while True:
            data = self.request("GET", path, params={**params, "page": page, "size": size})
            yield from data.get("items") or []
            if page >= int(data.get("total_pages") or 1):
                return
            page += 1


def _detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except ValueError:
        return r.text[:200]
    if isinstance(detail, list):
        return ": ".join(str(d) for d in detail)[:300]
    return str(detail)[:300]


# -- the watermark ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _State:
    newest: str | None = None  # newest update time seen, ISO
    seen: dict[str, str] = dataclasses.field(default_factory=dict)  # "kind:id" -> updated, for items near `newest`

    def dump(self) -> str:
        return canonical_json({"v": WATERMARK_VERSION, "t": self.newest, "s": self.seen})

    @classmethod
    def load(cls, text: str | None) -> _State | None:
        data = decode_watermark(text, WATERMARK_VERSION)
        if data is None or not data.get("t"):
            return None
        return cls(data["t"], dict(data.get("s") or {}))

    def cut(self) -> str | None:
        """The ``updated=gte:`` bound of the next listing."""
        if not self.newest:
            return None
        return (_parse(self.newest) - OVERLAP).strftime(_FILTER_TIME)


def _parse(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _maybe_time(value: Any) -> dt.datetime | None:
    return _parse(value) if value else None


def _name(obj: Any) -> str | None:
    return obj.get("name") if isinstance(obj, dict) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _tags(items: Any) -> dict[str, str]:
    """ZenML tags are names; ``key:value`` / ``key=value`` names become key and value."""
    out: dict[str, str] = {}
    for t in items or []:
        name = t.get("name") if isinstance(t, dict) else str(t)
        if not name:
            continue
        sep = next((s for s in (":", "=") if s in name), None)
        key, value = name.split(sep, 1) if sep else (name, "")
        out[key.strip()] = value.strip()
    return out


# -- the connector ---------------------------------------------------------------------------------------------


class ZenMLConnector:
    """One ZenML server and project (``[[accounts]] connector = "zenml"``)."""

    kind: ClassVar[str] = "zenml"
    settings_model: ClassVar[type[ZenMLSettings]] = ZenMLSettings

    def __init__(self, settings: ZenMLSettings, account: AccountInfo, *, root: Path, cache_dir: Path) -> None:
        api_key = account.secrets.get(settings.api_key_env, "")
        if not api_key:
            raise ConfigError(f"account {account.name!r}: ${settings.api_key_env} is empty or unset; it must hold the "
                              "API key of a ZenML service account (ZENKEY_…)")
        self.settings = settings
        self.account_name = account.name
        self.environment = account.environment
        self.root = Path(root)
        self.cache_dir = Path(cache_dir)
        self.cache = ContentCache(self.cache_dir, self.kind)
        self.digests = digests.DigestIndex(self.cache_dir, self.kind)
        self._s3: Any = None
        self._s3_lock = threading.Lock()
        verify: bool | str = False if settings.insecure_tls else (settings.ca_bundle or True)
        self.client = ZenMLClient(settings.url, api_key, key_name=settings.api_key_env, verify=verify,
                                  timeout=settings.timeout_seconds)
        self._project_id: str | None = None

    # -- small helpers ----------------------------------------------------------------------------------------

    @property
    def project_id(self) -> str:
        key = (self.settings.url, self.settings.project)
        if self._project_id is None:
            self._project_id = _PROJECTS.get(key)
        if self._project_id is None:
            try:
                project = self.client.request("GET", f"/projects/{self.settings.project}")
            except NotFound:
                raise ConfigError(f"account {self.account_name!r}: ZenML project {self.settings.project!r} does not "
                                  f"exist on {self.settings.url}") from None
            self._project_id = _PROJECTS[key] = project["id"]
        return self._project_id

    def _list(self, path: str, cut: str | None, *, field: str = "updated", **params: Any) -> list[dict[str, Any]]:
        query = {"sort_by": f"asc:{field}", **params}
        if cut:
            query[field] = f"gte:{cut}"
        return list(self.client.pages(path, query, self.settings.page_size))

    def _by_ids(self, path: str, ids: set[str], key: str = "id", **params: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        ordered = sorted(ids)
        for i in range(0, len(ordered), _ONEOF_CHUNK):
            chunk = ordered[i:i + _ONEOF_CHUNK]
            out += self.client.pages(path, {**params, key: "oneof:" + json.dumps(chunk)}, self.settings.page_size)
        return out

    # -- extract ------------------------------------------------------------------------------------------------

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Records changed since the watermark ``since`` (all of them when ``full`` or ``since`` is None)."""
        calls_before = self.client.calls
        before = None if full else _State.load(since)
        incremental = before is not None
        cut = before.cut() if before else None
        old_seen = before.seen if before else {}
        project = {"project": self.project_id}
        issues: list[SyncIssue] = []
        newest = [before.newest if before else None]
        seen: dict[str, str] = {}

        def fresh(kind: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """Items not already seen with the same update time; remembers the newest time."""
            out = []
            for item in items:
                updated = item["body"]["updated"]
                key = f"{kind}:{item['id']}"
                seen[key] = updated
                if newest[0] is None or updated > newest[0]:
                    newest[0] = updated
                if old_seen.get(key) != updated:
                    out.append(item)
            return out

        progress("listing models, versions, links and runs", 0.05)
        # the listings are independent: side by side (each ZenML request costs ~0.1 s of server time)
        kinds = [("m", "/models", "updated", {"hydrate": "true", **project}),
                 ("v", "/model_versions", "updated", {"hydrate": "true", **project}),
                 ("p", "/runs", "updated", {"hydrate": "true", **project})]
        if not incremental:  # links and steps change with their runs: an incremental pass reads them per run
            kinds += [("a", "/model_version_artifacts", "created", {}),
                      ("r", "/model_version_pipeline_runs", "created", {}),
                      ("s", "/steps", "updated", {"hydrate": "true", **project})]
        with workers.executor(len(kinds)) as pool:
            futures = {kind: pool.submit(self._list, path, cut, field=f, **params) for kind, path, f, params in kinds}
            listed = {kind: fresh(kind, future.result()) for kind, future in futures.items()}
        models = listed["m"]
        versions = {v["id"]: v for v in listed["v"]}
        runs = {r["id"]: r for r in listed["p"]}
        art_links, run_links, steps = listed.get("a", []), listed.get("r", []), listed.get("s", [])

        progress("reading changed versions", 0.5)
        if incremental and runs:  # a run that changed may have linked artifacts or itself to versions
            run_links = self._by_ids("/model_version_pipeline_runs", set(runs), key="pipeline_run_id")
        # a version whose links changed is emitted whole: read it and all its links
        linked = {link["body"]["model_version"] for link in art_links + run_links} - set(versions)
        if linked:
            versions.update({v["id"]: v for v in self._by_ids("/model_versions", linked, hydrate="true", **project)})
        if incremental and versions:
            art_links = self._by_ids("/model_version_artifacts", set(versions), key="model_version_id")
            run_links = self._by_ids("/model_version_pipeline_runs", set(versions), key="model_version_id")
        if incremental and runs:
            steps = self._by_ids("/steps", set(runs), key="pipeline_run_id", hydrate="true", **project)
        stacks = self._stacks() if runs else {}

        progress("building records", 0.8)
        artifacts_of: dict[str, list[dict[str, Any]]] = {}
        for link in art_links:
            artifacts_of.setdefault(link["body"]["model_version"], []).append(link["body"]["artifact_version"])
        runs_of: dict[str, list[dict[str, Any]]] = {}
        for link in run_links:
            runs_of.setdefault(link["body"]["model_version"], []).append(link["body"]["pipeline_run"])
        steps_of: dict[str, list[dict[str, Any]]] = {}
        for s in steps:
            if s.get("metadata"):
                steps_of.setdefault(s["metadata"]["pipeline_run_id"], []).append(s)

        model_records, cards = [], []
        for m in models:
            try:
                record, card = self._model_records(m)
            except (KeyError, TypeError, ValueError) as exc:
                issues.append(SyncIssue(f"model/{m.get('id')}", f"skipped: {type(exc).__name__}: {exc}"))
                continue
            model_records.append(record)
            cards.append(card)
        version_records = []
        for v in sorted(versions.values(), key=lambda v: (v["body"]["model"]["name"], v["body"]["number"])):
            try:
                version_records.append(self._version_record(v, artifacts_of.get(v["id"], []),
                                                             runs_of.get(v["id"], [])))
            except (KeyError, TypeError, ValueError) as exc:
                issues.append(SyncIssue(v["id"], f"skipped: {exc}"))
                seen.pop(f"v:{v['id']}", None)  # looked at again by the next sync
        version_records = self._with_digests(version_records, issues)
        run_records = []
        for r in runs.values():
            try:
                run_records.append(self._run_record(r, steps_of.get(r["id"], []), stacks))
            except (KeyError, TypeError, ValueError) as exc:
                issues.append(SyncIssue(f"pipeline-run/{r.get('id')}", f"skipped: {type(exc).__name__}: {exc}"))
                seen.pop(f"p:{r['id']}", None)
        # only the items near the newest time are needed to skip them next time
        horizon = (_parse(newest[0]) - OVERLAP - dt.timedelta(seconds=1)).isoformat() if newest[0] else ""
        keep = {k: t for k, t in {**old_seen, **seen}.items() if t >= horizon}
        progress("done", 1.0)
        return Snapshot(
            models=tuple(model_records), versions=tuple(version_records), runs=tuple(run_records),
            model_cards=tuple(cards), issues=tuple(issues), watermark=_State(newest[0], keep).dump(),
            complete=not incremental, calls=self.client.calls - calls_before,
        )

    def _stacks(self) -> dict[str, dict[str, Any]]:
        """stack id -> {name, components: {type: [{name, flavor}]}} (one listing of every stack, hydrated)."""
        out = {}
        for s in self.client.pages("/stacks", {"hydrate": "true"}, self.settings.page_size):
            components = ((s.get("metadata") or {}).get("components")) or {}
            out[s["id"]] = {
                "id": s["id"], "name": s.get("name"),
                "components": {t: [{"name": c.get("name"), "flavor": (c.get("body") or {}).get("flavor_name")}
                                   for c in cs] for t, cs in sorted(components.items())},
            }
        return out

    # -- records -----------------------------------------------------------------------------------------------

    def _model_records(self, m: dict[str, Any]) -> tuple[ModelRecord, ModelCardRecord]:
        meta = m.get("metadata") or {}
        tags = _tags((m.get("resources") or {}).get("tags"))
        risk = tags.get("risk_tier") or tags.get("risk-tier")
        content = {k: meta.get(k) for k in ("description", "license", "audience", "use_cases", "limitations",
                                            "trade_offs", "ethics")}
        content["tags"] = sorted(t.get("name") for t in (m.get("resources") or {}).get("tags") or [])
        owner = _name((m.get("resources") or {}).get("user"))
        record = ModelRecord(name=m["name"], description=meta.get("description"), owner=owner,
                             risk_tier=risk or None, intended_use=meta.get("use_cases"), tags=tags)
        card = ModelCardRecord(card_ref=f"model/{m['id']}", model=m["name"], status=None, content=content,
                               updated_at=_parse(m["body"]["updated"]))
        return record, card

    def _version_record(self, v: dict[str, Any], artifacts: list[dict[str, Any]],
                        runs: list[dict[str, Any]]) -> VersionRecord:
        body, meta = v["body"], v.get("metadata") or {}
        run_meta = dict(meta.get("run_metadata") or {})
        status = run_meta.get(META_APPROVAL, "PendingManualApproval")
        if status not in APPROVAL_STATUSES:
            raise ValueError(f"run metadata {META_APPROVAL} is {status!r}, not one of {', '.join(APPROVAL_STATUSES)}")
        stage = body.get("stage") or None
        stage = None if stage in ("none", "latest") else stage
        model_artifact, data = None, {}
        for a in sorted(artifacts, key=lambda a: a["body"]["created"]):
            ab = a["body"]
            name = _name(ab.get("artifact")) or a["id"]
            kind = ab.get("type") or ""
            if kind == "ModelArtifact" or (kind != "DataArtifact" and "model" in name.lower()):
                model_artifact = a
            else:
                data[name] = ab.get("uri")
        if model_artifact is None and artifacts and not data:
            model_artifact = artifacts[-1]
        data.update({k[len(META_DATA):]: str(u) for k, u in run_meta.items() if k.startswith(META_DATA)})
        metrics = {k: n for k, val in run_meta.items() if not k.startswith("countersign.")
                   and (n := _number(val)) is not None}
        runs = sorted(runs, key=lambda r: r["body"]["created"])
        labels = (stage,) if stage else ()
        metadata = {k: _text(val) for k, val in run_meta.items() if _number(val) is None or k.startswith("countersign.")}
        metadata.update({"zenml.name": v.get("name") or str(body["number"]), "zenml.stage": stage or "",
                         "zenml.model_id": body["model"]["id"], "zenml.runs": ",".join(r["id"] for r in runs)})
        if meta.get("description"):
            metadata["zenml.description"] = meta["description"]
        user = (v.get("resources") or {}).get("user")
        raw = {
            "id": v["id"], "name": v.get("name"), "number": body["number"], "stage": stage,
            "model": {"id": body["model"]["id"], "name": body["model"]["name"]},
            "description": meta.get("description"), "run_metadata": run_meta,
            "tags": sorted(t.get("name") for t in (v.get("resources") or {}).get("tags") or []),
            "artifacts": [{"id": a["id"], "name": _name(a["body"].get("artifact")), "version": a["body"].get("version"),
                           "uri": a["body"].get("uri"), "type": a["body"].get("type"),
                           "content_hash": a["body"].get("content_hash")} for a in artifacts],
            "runs": [{"id": r["id"], "name": r.get("name"), "status": r["body"].get("status")} for r in runs],
        }
        return VersionRecord(
            model=body["model"]["name"], version=int(body["number"]), source_ref=v["id"], approval_status=status,
            approval_description=run_meta.get(META_APPROVAL_DESCRIPTION),
            created_at=_parse(body["created"]), created_by=run_meta.get(META_CREATED_BY) or _name(user),
            modified_at=_parse(body["updated"]),
            artifact_uri=(model_artifact["body"].get("uri") if model_artifact else None) or run_meta.get(META_ARTIFACT),
            data_uris={k: u for k, u in data.items() if u},
            metrics=metrics, metadata=metadata,
            run_ref=f"pipeline-run/{runs[-1]['id']}" if runs else None,
            source_version_ref=run_meta.get(META_SOURCE_REF), source_account=run_meta.get(META_SOURCE_ACCOUNT),
            model_card_ref=f"model/{body['model']['id']}",
            labels=labels, environment=self.settings.stage_environments.get(stage or ""),
            raw=json.loads(canonical_json(raw)),
        )

    @staticmethod
    def _run_record(r: dict[str, Any], steps: list[dict[str, Any]], stacks: dict[str, dict[str, Any]]) -> RunRecord:
        body, meta, res = r["body"], r.get("metadata") or {}, r.get("resources") or {}
        config = meta.get("config") or {}
        params = {str(k): _text(val) for k, val in (config.get("parameters") or {}).items()}
        step_rows = []
        for s in sorted(steps, key=lambda s: (s["body"].get("start_time") or "", s.get("name") or "")):
            sb, sm = s["body"], s.get("metadata") or {}
            for k, val in ((sm.get("config") or {}).get("parameters") or {}).items():
                params[f"{s.get('name')}.{k}"] = _text(val)
            step_rows.append({"name": s.get("name"), "status": sb.get("status"), "started_at": sb.get("start_time"),
                              "ended_at": sb.get("end_time")})
        run_meta = meta.get("run_metadata") or {}
        stack_ref = res.get("stack") or {}
        stack = stacks.get(stack_ref.get("id") or "", {"id": stack_ref.get("id"), "name": stack_ref.get("name")})
        raw = {
            "id": r["id"], "stack": stack, "steps": step_rows,
            "config": {k: config.get(k) for k in ("enable_cache", "settings", "extra", "model", "tags")},
            "orchestrator_run_id": meta.get("orchestrator_run_id"), "status_reason": body.get("status_reason"),
            "run_metadata": {k: val for k, val in run_meta.items() if _number(val) is None},
        }
        return RunRecord(
            run_ref=f"pipeline-run/{r['id']}", kind="pipeline_run", name=r.get("name") or r["id"],
            status=body.get("status"), started_at=_maybe_time(meta.get("start_time")),
            ended_at=_maybe_time(meta.get("end_time")), params=params,
            metrics={k: n for k, val in run_meta.items() if (n := _number(val)) is not None},
            inputs={}, experiment=_name(res.get("pipeline")), raw=json.loads(canonical_json(raw)),
        )

    # -- fetch --------------------------------------------------------------------------------------------------

    def fetch(self, uri: str) -> Path:
        """A local copy of the artifact at ``uri`` (a local artifact store path, ``file://`` or ``s3://``),
        stored in the cache under its sha256. A ZenML artifact URI is a folder: its one file is fetched (a model
        file by its usual name when there are several)."""
        parts = urlsplit(uri)
        if parts.scheme == "s3":
            return self._fetch_s3(uri)
        if parts.scheme not in ("", "file"):
            raise InputError(f"{uri!r}: cannot fetch {parts.scheme}:// artifacts (local paths and s3:// only)")
        path = Path(parts.path if parts.scheme == "file" else uri)
        if not self.settings.artifact_root:
            raise ConfigError(f"account {self.account_name!r}: set 'artifact_root' to the local artifact store "
                              f"folder to fetch {uri!r}")
        root = Path(self.settings.artifact_root)
        root = (root if root.is_absolute() else self.root / root).resolve()
        path = path.resolve()
        if path != root and root not in path.parents:
            raise InputError(f"{uri!r} is outside the account's artifact_root {root}")
        if path.is_dir():
            path = self._pick(path, sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")),
                              uri)
        if not path.is_file():
            raise NotFound(f"{uri}: no such artifact")
        return self.cache.store_file(path, "".join(path.suffixes[-2:])[:24])

    def _local_root(self) -> Path | None:
        if not self.settings.artifact_root:
            return None
        root = Path(self.settings.artifact_root)
        return (root if root.is_absolute() else self.root / root).resolve()

    def artifact_digest(self, version: VersionRecord, *, fresh: bool = False) -> ArtifactDigest:
        """Countersign's sha256 of ``version``'s artifact: the artifact folder ZenML wrote (every file of it,
        ``connectors.digests.manifest_digest``) or one file, in the local artifact store under ``artifact_root`` or
        on S3; read again when a file's size, modification or change time (an object's ETag) changed, or when
        ``fresh``. ZenML's own ``content_hash`` is a hash of the in-memory value, not of these bytes."""
        uri = version.artifact_uri
        if not uri:
            return digests.unreadable("the version has no model artifact")
        parts = urlsplit(uri)
        if parts.scheme == "s3":
            try:
                s3 = self._s3_client()
            except Exception as exc:  # boto3 missing or no configuration: say why, the sync goes on
                return digests.unreadable(f"{uri}: cannot reach S3 ({type(exc).__name__}: {exc})")
            return digests.s3_digest(self.digests, s3, uri, fresh=fresh)
        if parts.scheme not in ("", "file"):
            return digests.unreadable(f"{uri!r}: cannot read {parts.scheme}:// artifacts (local paths and s3:// only)")
        root = self._local_root()
        if root is None:
            return digests.unreadable(f"set 'artifact_root' to the local artifact store folder to read {uri!r}")
        return digests.local_digest(self.digests, uri, Path(parts.path if parts.scheme == "file" else uri), root,
                                    fresh=fresh)

    def _s3_client(self) -> Any:
        """One boto3 S3 client for this connector (the host's AWS defaults), made once: the digests of a sync's
        versions are read side by side, and a client costs tens of milliseconds to make."""
        with self._s3_lock:
            if self._s3 is None:
                import boto3

                self._s3 = boto3.session.Session().client("s3")
            return self._s3

    def _with_digests(self, records: list[VersionRecord], issues: list[SyncIssue]) -> list[VersionRecord]:
        """``records`` with their artifacts' digests (a registry digest from the run metadata when unreadable)."""
        if not digests.ENABLED or not records:
            return records
        with workers.executor(4) as pool:
            observed = list(pool.map(self.artifact_digest, records))
        return [digests.settle(r, d, r.metadata.get(META_ARTIFACT_SHA256), issues)
                for r, d in zip(records, observed, strict=True)]

    @staticmethod
    def _pick(folder: Path, files: list[Path], uri: str) -> Path:
        if len(files) == 1:
            return files[0]
        for name in _MODEL_FILES:
            if (folder / name).is_file():
                return folder / name
        if not files:
            raise NotFound(f"{uri}: the artifact folder is empty")
        listed = ", ".join(str(f.relative_to(folder)) for f in files[:5])
        raise InputError(f"{uri}: the artifact folder holds several files ({listed}); name one of them")

    def _fetch_s3(self, uri: str) -> Path:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        parts = urlsplit(uri)
        bucket, key = parts.netloc, parts.path.lstrip("/")
        s3 = boto3.session.Session().client("s3")
        try:
            head = None
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
            except ClientError:
                listed = s3.list_objects_v2(Bucket=bucket, Prefix=key.rstrip("/") + "/").get("Contents") or []
                names = {o["Key"].rsplit("/", 1)[-1]: o["Key"] for o in listed}
                chosen = next((names[n] for n in _MODEL_FILES if n in names), None)
                if chosen is None and len(listed) == 1:
                    chosen = listed[0]["Key"]
                if chosen is None:
                    raise NotFound(f"{uri}: {len(listed)} objects under this prefix; name one") from None
                key = chosen
                head = s3.head_object(Bucket=bucket, Key=key)
            marker = f"s3://{bucket}/{key}|{head.get('ETag')}|{head.get('ContentLength')}"
            cached = self.cache.lookup(marker)
            if cached is not None:
                return cached
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise ConnectorError(f"account {self.account_name!r}: cannot read {uri}: {exc}") from None
        path = self.cache.store(lambda out: shutil.copyfileobj(body, out, 1 << 20),
                                "".join(PurePosixPath(key).suffixes[-2:])[:24])
        self.cache.remember(marker, path)
        return path

    # -- promotion (connectors.base.Promoter) -------------------------------------------------------------------

    def _read_version(self, version_id: str) -> VersionRecord:
        v = self.client.request("GET", f"/model_versions/{version_id}", params={"hydrate": "true"})
        arts = [link["body"]["artifact_version"]
                for link in self._by_ids("/model_version_artifacts", {version_id}, key="model_version_id")]
        runs = [link["body"]["pipeline_run"]
                for link in self._by_ids("/model_version_pipeline_runs", {version_id}, key="model_version_id")]
        return self._with_digests([self._version_record(v, arts, runs)], [])[0]

    def _write_metadata(self, version_id: str, values: dict[str, str]) -> None:
        values = {k: v for k, v in values.items() if v is not None}
        self.client.request("POST", "/run-metadata", json_body={
            "project": self.project_id, "resources": [{"id": version_id, "type": "model_version"}],
            "values": values, "types": {k: "str" for k in values},
        })

    def _touch(self, version_id: str, description: str | None) -> None:
        # run metadata alone does not change the version's update time: touch it so incremental syncs see it
        self.client.request("PUT", f"/model_versions/{version_id}", json_body={"description": description})

    def set_approval(self, version: VersionRecord, status: str, description: str) -> VersionRecord:
        """Write ``countersign.approval`` (+ description) as run metadata of the version; return it as re-read."""
        require_approval_status(status)
        current = self._read_version(version.source_ref)
        if current.approval_status != status or current.approval_description != description:
            self._write_metadata(version.source_ref, {META_APPROVAL: status, META_APPROVAL_DESCRIPTION: description})
            self._touch(version.source_ref, current.raw.get("description"))
            current = self._read_version(version.source_ref)
        if current.approval_status != status:
            raise ConnectorError(f"{version.source_ref}: approval reads back as {current.approval_status!r} after "
                                 f"writing {status!r}; another writer may be changing it")
        return current

    def same_server(self, other: Any) -> bool:
        """Whether ``other`` is a ZenML connector of this server and project (stage-as-environment promotion)."""
        return (isinstance(other, ZenMLConnector) and other.settings.url == self.settings.url
                and other.settings.project == self.settings.project)

    def register_copy(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> VersionRecord:
        """Put ``source`` into this account's environment, once per request id.

        On the same server (``stage_environments``), the version itself moves to the target stage (forced, as
        ZenML's own promotion does: the previous holder is archived). From another server, a version is
        registered in the model of the same name here, named after the request, pointing at the source artifact.
        Either way the request id, ledger hash, approvers and source are written as the version's run metadata.
        """
        stage = self.settings.stage_for(ref.environment or self.environment)
        provenance = {
            META_REQUEST: ref.request_id, META_LEDGER: ref.ledger_hash, META_APPROVED_BY: ",".join(ref.approved_by),
            META_SOURCE_REF: ref.source_ref, META_SOURCE_ACCOUNT: ref.source_account,
        }
        if self.same_server(source_connector):
            # the bytes the stage will point at, read again now: a stage never moves onto other bytes than approved
            now = self.artifact_digest(source, fresh=True)
            digests.require(ref.artifact_sha256, now,
                            f"the artifact of version {source.source_ref} that stage {stage!r} would point at")
            target_id = source.source_ref
            # provenance of a same-server move is the promotion itself, not a copy: keep the version's own source
            provenance = {k: v for k, v in provenance.items() if k not in (META_SOURCE_REF, META_SOURCE_ACCOUNT)}
            provenance["countersign.promoted_to"] = stage
            provenance[META_ARTIFACT_SHA256] = now.sha256
        else:
            # nothing is copied (the version here points at the source's artifact): its bytes are checked as the
            # source reads them and as this server's account reads them, before anything is registered here
            provenance[META_ARTIFACT_SHA256] = self._check_shared_artifact(source, source_connector, ref)
            target_id = self._copy_version(source, ref)
            provenance.update({META_APPROVAL: "Approved",
                               META_APPROVAL_DESCRIPTION: f"Promoted by Countersign request {ref.request_id}",
                               META_CREATED_BY: source.created_by})
            if source.artifact_uri:
                provenance[META_ARTIFACT] = source.artifact_uri
        current = self._read_version(target_id)
        # resumable: metadata first, then the stage; a retry after a crash between the two finishes the move
        if current.raw["run_metadata"].get(META_REQUEST) != ref.request_id:
            self._write_metadata(target_id, provenance)
        if current.raw.get("stage") != stage or current.raw["run_metadata"].get(META_REQUEST) != ref.request_id:
            self.client.request("PUT", f"/model_versions/{target_id}", json_body={"stage": stage, "force": True})
        after = self._read_version(target_id)
        if after.raw.get("stage") != stage:
            raise ConnectorError(f"{target_id}: stage reads back as {after.raw.get('stage')!r} after setting {stage!r}")
        return after

    def _check_shared_artifact(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> str | None:
        """The digest of ``source``'s artifact read fresh by the source account and by this one; a difference from
        the approved digest (or between the two) is refused."""
        uri = source.artifact_uri
        expected = ref.artifact_sha256
        if isinstance(source_connector, ArtifactReader):
            at_source = source_connector.artifact_digest(source, fresh=True)
            digests.require(expected, at_source, f"the source artifact {uri} (account {ref.source_account})")
            expected = expected or at_source.sha256
        here = self.artifact_digest(source, fresh=True)
        digests.require(expected, here, f"the artifact {uri} as account {self.account_name} reads it")
        return here.sha256

    def _copy_version(self, source: VersionRecord, ref: PromotionRef) -> str:
        """The id of the version registered here for ``ref`` (created when missing; its name is the request's)."""
        name = f"countersign-{ref.request_id}"[:250]
        found = self.client.request("GET", "/models", params={"name": source.model, "project": self.project_id})
        if found["items"]:
            model_id = found["items"][0]["id"]
        else:
            card = (source.raw or {}).get("model") or {}
            model_id = self.client.request("POST", "/models", json_body={
                "name": source.model, "project": self.project_id,
                "description": card.get("description") or f"{source.model} (created by Countersign promotion)",
            })["id"]
        existing = self.client.request("GET", "/model_versions",
                                       params={"model": model_id, "name": name, "project": self.project_id})
        if existing["items"]:
            return existing["items"][0]["id"]
        created = self.client.request("POST", "/model_versions", json_body={
            "model": model_id, "project": self.project_id, "name": name,
            "description": f"Promoted by Countersign from {source.source_account or ''} {source.source_ref}".strip(),
        }, allow=(409,))
        if created is None:  # a concurrent or crashed attempt created it meanwhile
            existing = self.client.request("GET", "/model_versions",
                                           params={"model": model_id, "name": name, "project": self.project_id})
            return existing["items"][0]["id"]
        return created["id"]
