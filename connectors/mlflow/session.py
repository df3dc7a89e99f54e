"""One MLflow server as seen by one account: its API clients, ``fetch`` of artifacts and datasets, artifact digests."""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from connectors import digests
from connectors.base import AccountInfo, ArtifactDigest, SyncIssue, VersionRecord
from connectors.cache import ContentCache
from connectors.mlflow import datasets
from connectors.mlflow.client import ARTIFACTS_API, Api, download_plain
from connectors.mlflow.records import framework_from_mlmodel, model_file
from connectors.mlflow.settings import TAG_ARTIFACT_SHA256, MlflowSettings
from core.canonical import canonical_json
from core.errors import ConfigError, CountersignError, InputError, NotFound


class MlflowSession:
    """The connection to one MLflow server: clients, ``fetch`` and artifact digests."""

    kind: ClassVar[str] = "mlflow"
    settings_model: ClassVar[type[MlflowSettings]] = MlflowSettings

    def __init__(self, settings: MlflowSettings, account: AccountInfo, *, root: Path, cache_dir: Path) -> None:
        if settings.workspaces is not None:  # one workspace per session: several are connectors.mlflow.workspaces
            raise ConfigError(f"account {account.name!r} reads several MLflow workspaces: build its connector with "
                              "connectors.build_connector (connectors.mlflow.workspaces.mlflow_connector)")
        self.settings = settings
        self.account_name = account.name
        self.environment = account.environment
        self.root = Path(root)
        self.cache_dir = Path(cache_dir)
        self.digests = digests.DigestIndex(self.cache_dir, self.kind)
        self.credentials = settings.credentials(account.secrets)
        self.tracking = Api(account.name, settings.tracking_uri, self.credentials, settings)
        self.registry = (self.tracking if settings.registry == settings.tracking_uri
                         else Api(account.name, settings.registry, self.credentials, settings))

    def _calls(self) -> tuple[int, int]:
        apis = {id(a): a for a in (self.tracking, self.registry)}.values()
        return sum(a.meter.calls for a in apis), sum(a.meter.throttled for a in apis)

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
        cache = ContentCache(self.cache_dir, self.kind)
        cached = cache.lookup(marker) if marker else None
        if cached is not None:
            return cached

        def download(tmp: Path) -> str:
            got = self.tracking.request("GET", f"{ARTIFACTS_API}/{quote(path)}", stream_to=tmp, missing_ok=True)
            if got is None:
                raise NotFound(missing)
            return got["sha256"]

        stored = cache.store_hashed(download, "".join(PurePosixPath(path).suffixes[-2:])[:24])
        if marker:
            cache.remember(marker, stored)
        return stored

    def fetch(self, uri: str) -> Path:
        """A local copy of the artifact or dataset at ``uri``, in the content-addressed cache.

        Through this server's artifact proxy: ``mlflow-artifacts:/``, ``runs:/``, ``models:/``, an http(s) URL of the
        proxy itself, and a local path under ``server_artifact_root``; an ``s3://`` object with the host's own AWS
        configuration; an http(s) URL of a host listed in ``data_hosts`` (fetched without the account's
        credentials). A model directory (an ``MLmodel`` file) gives its model file: a format Countersign loads
        without running code when there is one (skops, XGBoost, LightGBM, ONNX), else the flavor's own file (a
        pickle, which the loader refuses with what to do). A ``#mlflow-digest=`` fragment
        (:mod:`connectors.mlflow.datasets`) is checked against the file read: another file is refused.
        """
        base, digest = datasets.split_digest(uri)
        path = self._fetch(base)
        if digest:
            datasets.check_digest(path, digest, base)
        return path

    def _fetch(self, uri: str) -> Path:
        parts = urlsplit(uri)
        if parts.scheme in ("http", "https"):
            proxied = self._proxy_path_of_url(uri)
            return self._fetch_http(uri) if proxied is None else self._fetch_proxied(proxied)
        if parts.scheme == "s3":
            return self._fetch_s3(uri)
        if parts.scheme in ("", "file"):
            return self._fetch_proxied(self._served_path(uri))
        return self._fetch_proxied(self._artifact_path(uri))

    def _fetch_proxied(self, path: str) -> Path:
        files = self._tree(path)
        if not files:
            return self._download(path)
        return self._download(f"{path}/{model_file(files, self._mlmodel(path, files))}")

    def _proxy_path_of_url(self, url: str) -> str | None:
        """The proxy path an http(s) URL of this server's artifact endpoints names; None for another server."""
        parts, mine = urlsplit(url), urlsplit(self.settings.tracking_uri)
        if parts.netloc != mine.netloc:
            return None
        path = unquote(parts.path)
        for prefix in (ARTIFACTS_API, ARTIFACTS_API.replace("/api/", "/ajax-api/")):
            if path.startswith(prefix + "/"):
                return self._artifact_path("mlflow-artifacts:/" + path[len(prefix) + 1:])
        if path.rstrip("/").endswith("/get-artifact"):
            query = parse_qs(parts.query)
            run_id, rel = (query.get("run_id") or query.get("run_uuid") or [""])[0], (query.get("path") or [""])[0]
            if run_id and rel:
                return self._artifact_path(f"runs:/{run_id}/{rel}")
        raise InputError(f"{url!r} is on this account's MLflow server but not one of its artifact URLs "
                         f"({ARTIFACTS_API}/... or get-artifact?run_id=...&path=...)")

    def _served_path(self, uri: str) -> str:
        """The proxy path of a local dataset path that lies under the server's ``--artifacts-destination``."""
        local = PurePosixPath(unquote(urlsplit(uri).path) if uri.startswith("file:") else uri)
        root = self.settings.server_artifact_root
        if root is None:
            raise InputError(f"{uri!r} is a path on the machine that logged the dataset; Countersign reads it only "
                             "through the MLflow server: set server_artifact_root to the server's "
                             "--artifacts-destination when the file lies under it, or log the data as a run artifact")
        try:
            rel = local.relative_to(PurePosixPath(root))
        except ValueError:
            raise InputError(f"{uri!r} is not under the server's artifact store {root} (server_artifact_root); "
                             "log the data as a run artifact") from None
        return self._artifact_path("mlflow-artifacts:/" + str(rel))

    def _fetch_http(self, url: str) -> Path:
        """A dataset on a host listed in ``data_hosts``, downloaded without the account's credentials."""
        host = urlsplit(url).hostname or ""
        if host not in self.settings.data_hosts:
            raise InputError(f"{url!r} is on {host}, not on account {self.account_name!r}'s MLflow server: add "
                             f"{host!r} to the account's data_hosts to let Countersign download it (without the "
                             "account's credentials)")
        cache = ContentCache(self.cache_dir, self.kind)
        return cache.store(lambda fh: download_plain(url, fh, verify=not self.settings.insecure_tls,
                                                  timeout=self.settings.timeout_seconds), _suffix(urlsplit(url).path))

    def _fetch_s3(self, uri: str) -> Path:
        """An ``s3://`` dataset read with the host's AWS configuration (profiles, environment, instance role)."""
        from connectors.cache import fetch_s3

        bucket = urlsplit(uri).netloc
        if bucket not in self.settings.data_buckets:
            raise InputError(f"{uri!r} is in bucket {bucket!r}, outside account {self.account_name!r}'s MLflow server: "
                             f"add {bucket!r} to the account's data_buckets to let Countersign read it with this "
                             "host's AWS configuration")
        try:
            import boto3
        except ImportError:
            raise InputError(f"{uri!r}: reading s3:// datasets needs boto3 (pip install boto3)") from None
        return fetch_s3(ContentCache(self.cache_dir, self.kind), boto3.session.Session().client("s3"), uri,
                        f"account {self.account_name!r}")

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
        records = list(pool.map(self._with_framework, records))
        if not digests.ENABLED:
            return records
        observed = list(pool.map(self.artifact_digest, records))
        return [digests.settle(r, d, r.metadata.get(TAG_ARTIFACT_SHA256), issues)
                for r, d in zip(records, observed, strict=True)]

    def _with_framework(self, record: VersionRecord) -> VersionRecord:
        """``record`` with its framework from its ``MLmodel`` flavors when no tag names it (MLflow 3 keeps no
        ``mlflow.log-model.history`` run tag); unchanged when the artifact has no readable ``MLmodel``."""
        if record.framework or not record.artifact_uri:
            return record
        try:
            text = self._download(f"{self._digest_path(record)}/MLmodel").read_text(encoding="utf-8",
                                                                                      errors="replace")
        except CountersignError:
            return record
        return dataclasses.replace(record, framework=framework_from_mlmodel(text))



def _suffix(path: str) -> str:
    """The file suffix a cached copy keeps (``.parquet``, ``.csv.gz``), so readers know its format."""
    return "".join(PurePosixPath(path).suffixes[-2:])[:24]
