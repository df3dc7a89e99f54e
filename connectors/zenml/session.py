"""One ZenML server and project as seen by one account: its client, ``fetch`` of artifacts, artifact digests."""

from __future__ import annotations

import json
import threading
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import urlsplit

from connectors import digests
from connectors.base import AccountInfo, ArtifactDigest, SyncIssue, VersionRecord
from connectors.cache import ContentCache, fetch_s3
from connectors.zenml.client import _PROJECTS, ZenMLClient
from connectors.zenml.settings import META_ARTIFACT_SHA256, ZenMLSettings
from core import workers
from core.errors import ConfigError, ConnectorError, InputError, NotFound

_ONEOF_CHUNK = 40

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
        stored in the cache under its sha256. A ZenML artifact URI is a folder a materializer wrote: the file
        holding the value is fetched (:func:`value_file`: ``df.parquet.gzip``, ``df.csv``, ``artifact.pkl`` …), not
        the visualizations beside it."""
        parts = urlsplit(uri)
        if parts.scheme == "s3":
            return self._fetch_s3(uri)
        if parts.scheme not in ("", "file"):
            raise InputError(f"{uri!r}: cannot fetch {parts.scheme}:// artifacts (local paths and s3:// only)")
        path = Path(parts.path if parts.scheme == "file" else uri)
        root = self._local_root()
        if root is None:
            raise ConfigError(f"account {self.account_name!r}: set 'artifact_root' to the local artifact store "
                              f"folder to fetch {uri!r}")
        path = path.resolve()
        if path != root and root not in path.parents:
            raise InputError(f"{uri!r} is outside the account's artifact_root {root}")
        if path.is_dir():
            files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()
                           and not p.name.startswith("."))
            path = path / value_file(files, uri)
        if not path.is_file():
            raise NotFound(f"{uri}: no such artifact")
        return ContentCache(self.cache_dir, self.kind).store_file(path, cache_suffix(path.name))

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
                from botocore.exceptions import BotoCoreError

                s3 = self._s3_client()
            except ImportError as exc:  # boto3 is not installed: said, the sync goes on
                return digests.unreadable(f"{uri}: cannot reach S3 ({type(exc).__name__}: {exc})")
            except BotoCoreError as exc:  # no region or configuration: said, the sync goes on
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

    def _fetch_s3(self, uri: str) -> Path:
        """The S3 object at ``uri``, or the value file of the artifact folder under it."""
        from botocore.exceptions import BotoCoreError, ClientError

        parts = urlsplit(uri)
        bucket, key = parts.netloc, parts.path.lstrip("/")
        s3 = self._s3_client()
        who = f"account {self.account_name!r}"
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError:  # a folder: its objects, and the one that holds the value
            prefix = key.rstrip("/") + "/"
            try:
                listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents") or []
            except (ClientError, BotoCoreError) as exc:
                raise ConnectorError(f"{who}: cannot read {uri}: {exc}") from None
            key = prefix + value_file([o["Key"][len(prefix):] for o in listed], uri)
        except BotoCoreError as exc:
            raise ConnectorError(f"{who}: cannot read {uri}: {exc}") from None
        cache = ContentCache(self.cache_dir, self.kind)
        return fetch_s3(cache, s3, f"s3://{bucket}/{key}", who, suffix=cache_suffix(key))


# What ZenML's default materializers write into an artifact folder: the file holding the value (pandas: Parquet,
# or CSV without pyarrow; scikit-learn and cloudpickle: a pickle; built-in types: JSON), and beside it files that
# are not the value (the pandas visualizations, the Python version a pickle needs).
VALUE_FILES = ("df.parquet.gzip", "df.csv", "model.skops", "model.json", "model.ubj", "model.txt", "artifact.pkl",
               "data.json", "data.txt")
NOT_VALUES = ("describe.csv", "sample.csv", "python_version.txt")


def value_file(names: list[str], uri: str) -> str:
    """The file of an artifact folder (its relative file ``names``) that holds the value."""
    candidates = [n for n in names if n not in NOT_VALUES]
    if len(candidates) == 1:
        return candidates[0]
    for name in VALUE_FILES:
        if name in names:
            return name
    if not names:
        raise NotFound(f"{uri}: the artifact folder is empty")
    raise InputError(f"{uri}: the artifact folder holds several files ({', '.join(names[:5])}) and none a "
                     "materializer of ZenML writes its value to; name one of them")


def cache_suffix(name: str) -> str:
    """The suffix a cached copy keeps so readers know its format: ZenML's ``df.parquet.gzip`` is Parquet (with
    gzip-compressed pages inside), not a gzip file."""
    if name.endswith(".parquet.gzip"):
        return ".parquet"
    return "".join(PurePosixPath(name).suffixes[-2:])[:24]
