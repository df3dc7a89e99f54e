"""A third connector kind, defined and registered here and nowhere else, passes the whole contract and syncs into
the catalog: the registry is the only door a source needs (nothing in governance/, app_pages/ or portal/ knows it).

The kind keeps one account's registry in one JSON file::

    {"models": {"churn": {"description": "...", "versions": {"1": {"status": "...", "created_at": "...",
                                                                    "artifact": "<the artifact's text>"}}}}}
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, ClassVar

import pytest

import connectors
from connectors import digests
from connectors.base import (
    AccountInfo,
    ArtifactDigest,
    ConnectorSettings,
    ModelRecord,
    Snapshot,
    SyncIssue,
    VersionRecord,
)
from connectors.cache import ContentCache
from core.canonical import canonical_json, record_hash
from core.errors import ConnectorError, InputError, NotFound
from core.progress import ProgressFn, no_progress
from core.structs import Meta
from tests.connectors.contract.driver import SourceDriver
from tests.connectors.contract.suite import *  # noqa: F403 - the contract's tests, run for this kind
from tests.connectors.contract.suite import sync_src, workspace

KIND = "jsonfile"


class JsonFileSettings(ConnectorSettings):
    """``connector = "jsonfile"``: the registry file."""

    file: Annotated[str, Meta(min_length=1)]

    def location(self) -> str | None:
        return self.file


class JsonFileConnector:
    """A registry kept in one JSON file; read whole, incremental by a watermark of per-version hashes."""

    kind: ClassVar[str] = KIND

    def __init__(self, settings: JsonFileSettings, account: AccountInfo, *, root: Path, cache_dir: Path) -> None:
        path = Path(settings.file)
        self.path = path if path.is_absolute() else root / path
        self.account = account
        self.cache = ContentCache(cache_dir, self.kind)
        self.digests = digests.DigestIndex(cache_dir, self.kind)

    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConnectorError(f"account {self.account.name}: cannot read {self.path}: {exc}") from None

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        data = self._load()
        try:
            before = None if full or not since else json.loads(since)
        except ValueError:
            before = None
        models, versions, issues, seen = [], [], [], {}
        for model, body in data["models"].items():
            models.append(ModelRecord(model, description=body.get("description")))
            for number, v in body["versions"].items():
                ref = f"{model}/{number}"
                try:
                    record = VersionRecord(
                        model=model, version=int(number), source_ref=ref, approval_status=v["status"],
                        approval_description=v.get("description"), created_at=dt.datetime.fromisoformat(v["created_at"]),
                        artifact_uri=f"{KIND}://{self.account.name}/{ref}")
                except (ValueError, KeyError, TypeError) as exc:
                    issues.append(SyncIssue(ref, f"skipped: {type(exc).__name__}: {exc}"))
                    continue
                seen[ref] = record_hash(v)
                if before is None or before.get(ref) != seen[ref]:
                    versions.append(digests.settle(record, self.artifact_digest(record), None))
        progress("done", 1.0)
        return Snapshot(models=tuple(models), versions=tuple(versions), issues=tuple(issues),
                        watermark=canonical_json(seen), complete=before is None)

    def _artifact(self, uri: str) -> bytes:
        prefix = f"{KIND}://{self.account.name}/"
        if not uri.startswith(prefix):
            raise InputError(f"{uri!r} is not a file of {KIND} account {self.account.name!r}")
        model, _, number = uri[len(prefix):].rpartition("/")
        version = self._load()["models"].get(model, {}).get("versions", {}).get(number)
        if not isinstance(version, dict) or not isinstance(version.get("artifact"), str):
            raise NotFound(f"{uri}: no such version or artifact")
        return version["artifact"].encode()

    def fetch(self, uri: str) -> Path:
        body = self._artifact(uri)
        return self.cache.store(lambda fh: fh.write(body), ".txt")

    def artifact_digest(self, version: VersionRecord, *, fresh: bool = False) -> ArtifactDigest:
        """The sha256 of the artifact text the registry file holds, read again when the file changed."""
        uri = version.artifact_uri or ""
        st = self.path.stat()
        identity = f"{uri}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"
        return self.digests.observe(identity, lambda: hashlib.sha256(self._artifact(uri)).hexdigest(), fresh=fresh)


class JsonFileDriver(SourceDriver):
    """One JSON file per account under ``root``."""

    kind = KIND

    def __init__(self, root: Path) -> None:
        self.root = root

    def _file(self, account: str) -> Path:
        return self.root / f"{account}.json"

    def _edit(self, account: str, change) -> Any:
        data = json.loads(self._file(account).read_text())
        out = change(data)
        self._file(account).write_text(json.dumps(data))
        return out

    def settings(self, account: str) -> dict[str, Any]:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self._file(account).exists():
            self._file(account).write_text(json.dumps({"models": {}}))
        return {"file": str(self._file(account))}

    def bad_settings(self) -> list[tuple[dict[str, Any], str]]:
        return [({}, "file"), ({"file": "x.json", "fiel": "y"}, "fiel")]

    def create_model(self, account: str, model: str) -> None:
        self.settings(account)
        self._edit(account, lambda d: d["models"].setdefault(model, {"description": f"{model} model", "versions": {}}))

    def add_version(self, account: str, model: str) -> int:
        def add(d: dict[str, Any]) -> int:
            versions = d["models"][model]["versions"]
            n = len(versions) + 1
            versions[str(n)] = {"status": "PendingManualApproval", "created_at": f"2026-05-{n:02d}T10:00:00",
                                "artifact": self.artifact_bytes(account, model, n).decode()}
            return n

        return self._edit(account, add)

    def change_version(self, account: str, model: str, version: int) -> None:
        self._edit(account, lambda d: d["models"][model]["versions"][str(version)].update(
            status="Approved", description="validated"))

    def delete_version(self, account: str, model: str, version: int) -> None:
        self._edit(account, lambda d: d["models"][model]["versions"].pop(str(version)))

    def corrupt_version(self, account: str, model: str, version: int) -> None:
        self._edit(account, lambda d: d["models"][model]["versions"].update({str(version): "garbage"}))

    def artifact_bytes(self, account: str, model: str, version: int) -> bytes:
        return f"json artifact {account}/{model}/{version}".encode()

    def artifact_files(self, account: str, model: str, version: int) -> bytes:
        return json.loads(self._file(account).read_text())["models"][model]["versions"][str(version)]["artifact"].encode()

    def replace_artifact(self, account: str, model: str, version: int, data: bytes) -> None:
        self._edit(account, lambda d: d["models"][model]["versions"][str(version)].update(artifact=data.decode()))

    def remove_artifact(self, account: str, model: str, version: int) -> None:
        self._edit(account, lambda d: d["models"][model]["versions"][str(version)].pop("artifact"))

    def outside_uris(self, account: str) -> list[str]:
        return [f"{KIND}://dst/churn/1", "/etc/passwd", "folder://src/churn/1/model.skops"]


@pytest.fixture(params=[KIND])
def driver(tmp_path: Path):
    """This module's kind, registered at run time for the test and forgotten after it."""
    connectors.register(KIND, JsonFileConnector, JsonFileSettings)
    try:
        yield JsonFileDriver(tmp_path / "json")
    finally:
        connectors.unregister(KIND)


def test_it_syncs_into_the_catalog_like_any_kind(driver: JsonFileDriver, tmp_path: Path) -> None:
    driver.create_model("src", "churn")
    driver.add_version("src", "churn")
    ws, settings, catalog = workspace(driver, tmp_path)
    assert settings.account("src").location == driver.settings("src")["file"]
    assert sync_src(ws, settings, catalog).status == "ok"
    inventory = catalog.inventory().set_index("version_id")
    assert inventory.loc["src:churn:1", "environment"] == "dev"
    assert inventory.loc["src:churn:1", "approval_status"] == "PendingManualApproval"
    with catalog.connect() as con:
        assert con.execute("SELECT connector, location FROM accounts WHERE name = 'src'").fetchone() == (
            KIND, driver.settings("src")["file"])


def test_an_unregistered_kind_is_a_config_error_naming_the_known_ones(tmp_path: Path) -> None:
    import re

    import connectors
    from core.errors import ConfigError
    from governance.config import parse_settings

    known = re.escape(", ".join(k for k in connectors.kinds() if k != KIND))
    with pytest.raises(ConfigError, match=rf"accounts\[0\]: unknown connector 'jsonfile' \(known: {known}\)"):
        parse_settings({"accounts": [{"name": "a", "environment": "dev", "connector": KIND, "file": "x.json"}]})
