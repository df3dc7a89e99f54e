"""One ZenML server and project as seen by one account: its client, ``fetch`` of artifacts, artifact digests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import urlsplit

from connectors import digests
from connectors.base import AccountInfo, ArtifactDigest, SyncIssue, VersionRecord
from connectors.cache import temp_file
from connectors.zenml.client import _PROJECTS, ZenMLClient
from connectors.zenml.settings import META_ARTIFACT_SHA256, ZenMLSettings
from core import workers
from core.errors import ConfigError, ConnectorError, InputError, NotFound

_ONEOF_CHUNK = 40
_MODEL_FILES = ("model.skops", "model.json", "model.ubj", "model.txt")

class ZenMLSession:
    """The connection to one ZenML server and project: client, ``fetch`` and artifact digests."""

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
        self.digests = digests.DigestIndex(self.cache_dir, self.kind)
        self._s3: Any = None
        self._s3_lock = threading.Lock()
        verify: bool | str = False if settings.insecure_tls else (settings.ca_bundle or True)
        self.client = ZenMLClient(settings.url, api_key, key_name=settings.api_key_env, verify=verify,
                                  timeout=settings.timeout_seconds)
        self._project_id: str | None = None

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
        return self._store(lambda out: shutil.copyfileobj(path.open("rb"), out), "".join(path.suffixes[-2:])[:24])

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
            index = self.cache_dir / "index" / f"zenml-{hashlib.sha256(marker.encode()).hexdigest()}"
            if index.exists() and Path(index.read_text()).exists():
                return Path(index.read_text())
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise ConnectorError(f"account {self.account_name!r}: cannot read {uri}: {exc}") from None
        path = self._store(lambda out: shutil.copyfileobj(body, out), "".join(PurePosixPath(key).suffixes[-2:])[:24])
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(str(path))
        return path

    def _store(self, write: Any, suffix: str) -> Path:
        fd, tmp = temp_file(self.cache_dir)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as fh:
                write(fh)
            with open(tmp, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            target = self.cache_dir / "sha256" / digest.hexdigest()[:2] / f"{digest.hexdigest()}{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            return target
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

