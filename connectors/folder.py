"""A model registry kept as plain folders: on-premise models, exported registries, the demo workspace.

Layout of one account's folder (documented in docs/folder-registry.md)::

    <path>/
      deployments.json                  optional: [{"endpoint", "variant", "model", "version", "status", "weight"}]
      <model>/
        model.json                      optional: {"description", "owner", "risk_tier", "intended_use", "tags"}
        card.json                       optional model card: {"status", "content": {...}}
        <N>/                            one version (a positive integer)
          metadata.json                 required: approval_status, created_at, created_by, metrics, ...
          model.skops                   the artifact (name in metadata "artifact")
          reference.parquet             training/reference data
          validation.parquet            scored hold-out data
          current.parquet               optional monitoring data

URIs look like ``folder://<account>/<model>/<N>/<file>``. A corrupt or partial version folder becomes a
:class:`SyncIssue` and is skipped; the rest syncs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from connectors import digests
from connectors.base import (
    APPROVAL_STATUSES,
    AccountInfo,
    ArtifactDigest,
    Connector,
    DeploymentRecord,
    ModelCardRecord,
    ModelRecord,
    PromotionRef,
    RunRecord,
    Snapshot,
    SyncIssue,
    VersionRecord,
    require_approval_status,
)
from connectors.cache import ContentCache
from connectors.folder_cards import FolderCards
from connectors.folder_settings import FolderSettings as FolderSettings  # re-exported
from core.canonical import canonical_json, record_hash
from core.clock import naive_utc, utcnow
from core.errors import ArtifactMismatch, ConnectorError, InputError, NotFound
from core.hashing import sha256_file, sha256_stream
from core.progress import ProgressFn, no_progress

DATA_FILES = ("reference", "validation", "current")
REQUIRED_KEYS = ("approval_status", "created_at")
WATERMARK_VERSION = 1


def _parse_time(value: Any, what: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO date-time string, got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} is not an ISO date-time: {value!r}") from None
    return naive_utc(parsed)


def _seen(watermark: str | None) -> dict[str, str] | None:
    """The version hashes a watermark recorded; None (a full read) when absent, older or foreign."""
    try:
        data = json.loads(watermark or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("v") != WATERMARK_VERSION or not isinstance(data.get("versions"), dict):
        return None
    return data["versions"]


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class FolderConnector(FolderCards):
    """Reads (and promotes into) a registry kept as folders on disk."""

    kind: ClassVar[str] = "folder"

    def __init__(self, settings: FolderSettings, account: AccountInfo, *, root: Path, cache_dir: Path) -> None:
        self.settings = settings
        self.account = account
        path = Path(settings.path)
        self.base = (path if path.is_absolute() else Path(root) / path).resolve()
        self.cache_dir = cache_dir
        self.cache = ContentCache(cache_dir, self.kind)
        self.digests = digests.DigestIndex(cache_dir, self.kind)

    # -- URIs --------------------------------------------------------------------------------------

    def uri(self, *parts: str) -> str:
        """The URI of a file of this registry."""
        return f"folder://{self.account.name}/" + "/".join(parts)

    def _path_of(self, uri: str) -> Path:
        prefix = f"folder://{self.account.name}/"
        if not uri.startswith(prefix):
            raise InputError(f"{uri!r} is not a file of folder account {self.account.name!r} (expected {prefix}…)")
        rel = PurePosixPath(uri[len(prefix):])
        if rel.is_absolute() or ".." in rel.parts:
            raise InputError(f"{uri!r}: paths may not leave the registry folder")
        path = (self.base / rel).resolve()
        if self.base not in path.parents:
            raise InputError(f"{uri!r}: paths may not leave the registry folder")
        return path

    def fetch(self, uri: str) -> Path:
        """A copy of the file at ``uri`` in the cache, under its sha256: what evidence reads stays as it was read,
        even if the registry folder changes later. An unchanged file (same size, modification and change times,
        inode) is not copied again."""
        path = self._path_of(uri)
        if not path.is_file():
            raise NotFound(f"{uri}: no such file in {self.base}")
        st = path.stat()
        # the change time and inode: a file copied over keeping its size and modification time is read again
        marker = f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}"
        cached = self.cache.lookup(marker)
        if cached is not None:
            return cached
        stored = self.cache.store_file(path, "".join(PurePosixPath(path.name).suffixes[-2:])[:24])
        self.cache.remember(marker, stored)
        return stored

    def artifact_digest(self, version: VersionRecord, *, fresh: bool = False) -> ArtifactDigest:
        """Countersign's sha256 of the file ``version.artifact_uri`` names, read again when its identity (path, size,
        modification and change times, inode) changed or when ``fresh``; a path leaving the registry is refused."""
        if not version.artifact_uri:
            return digests.unreadable("the version names no artifact")
        try:
            path = self._path_of(version.artifact_uri)
        except InputError as exc:
            return digests.unreadable(f"refused: {exc}")
        if path.is_dir():
            return digests.unreadable(f"{version.artifact_uri} is a directory; the artifact is one file")
        return digests.local_digest(self.digests, version.artifact_uri, path, self.base, fresh=fresh)

    def _artifact_file(self, vdir: Path, name: str) -> Path:
        """The artifact ``name`` of version folder ``vdir``; an InputError when it would leave the registry folder
        (an absolute path, ``..``, a symbolic link pointing outside)."""
        pure = PurePosixPath(name)
        if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name:
            raise InputError(f"artifact {name!r} points outside the version folder: refused (not read, not hashed)")
        path = (vdir / pure).resolve()
        if self.base not in path.parents:
            raise InputError(f"artifact {name!r} resolves to {path}, outside the registry folder {self.base}: "
                             "refused (not read, not hashed)")
        return path

    # -- extraction --------------------------------------------------------------------------------

    def extract(self, since: str | None, *, full: bool = False, progress: ProgressFn = no_progress) -> Snapshot:
        """Read the whole folder (cheap); since a watermark, return only the versions (and their runs) whose
        content changed. The watermark is the content hash of every version seen, as compact JSON."""
        seen_before = None if full else _seen(since)
        if not self.base.is_dir():
            raise ConnectorError(f"account {self.account.name}: registry folder {self.base} does not exist")
        models: list[ModelRecord] = []
        versions: list[VersionRecord] = []
        runs: list[RunRecord] = []
        cards: list[ModelCardRecord] = []
        issues: list[SyncIssue] = []
        model_dirs = sorted(p for p in self.base.iterdir() if p.is_dir() and not p.name.startswith("."))
        for i, mdir in enumerate(model_dirs):
            progress(f"reading {mdir.name}", i / max(len(model_dirs), 1))
            try:
                meta = self._read_json(mdir / "model.json") if (mdir / "model.json").exists() else {}
                models.append(
                    ModelRecord(
                        name=mdir.name,
                        description=meta.get("description"),
                        owner=meta.get("owner"),
                        risk_tier=meta.get("risk_tier"),
                        intended_use=meta.get("intended_use"),
                        tags={str(k): str(v) for k, v in (meta.get("tags") or {}).items()},
                    )
                )
            except ValueError as exc:
                issues.append(SyncIssue(f"{mdir.name}/model.json", str(exc)))
            if (mdir / "card.json").exists():
                try:
                    card = self._read_json(mdir / "card.json")
                    cards.append(
                        ModelCardRecord(
                            card_ref=f"{mdir.name}/card",
                            model=mdir.name,
                            status=card.get("status"),
                            version_ref=card.get("version_ref"),
                            content=card.get("content") or {},
                            updated_at=_parse_time(card["updated_at"], "updated_at") if card.get("updated_at") else None,
                        )
                    )
                except (ValueError, KeyError) as exc:
                    issues.append(SyncIssue(f"{mdir.name}/card.json", str(exc)))
            for vdir in sorted((p for p in mdir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                               key=lambda p: (len(p.name), p.name)):
                ref = f"{mdir.name}/{vdir.name}"
                try:
                    version, run = self._read_version(mdir.name, vdir, issues)
                except (ValueError, KeyError, TypeError, OSError) as exc:
                    issues.append(SyncIssue(ref, f"skipped: {exc}"))
                    continue
                versions.append(version)
                if run is not None:
                    runs.append(run)
        deployments: list[DeploymentRecord] = []
        if (self.base / "deployments.json").exists():
            try:
                deployments = self._read_deployments()
            except (ValueError, KeyError, TypeError) as exc:
                issues.append(SyncIssue("deployments.json", f"skipped: {exc}"))
        progress("done", 1.0)
        seen = {v.source_ref: v.raw.get("_hash", "") for v in versions}
        if seen_before is not None:
            versions = [v for v in versions if seen_before.get(v.source_ref) != seen[v.source_ref]]
            wanted = {v.run_ref for v in versions}
            runs = [r for r in runs if r.run_ref in wanted]
        return Snapshot(
            models=tuple(models),
            versions=tuple(versions),
            runs=tuple(runs),
            deployments=tuple(deployments),
            model_cards=tuple(cards),
            issues=tuple(issues),
            watermark=canonical_json({"v": WATERMARK_VERSION, "versions": seen}),
            # an incremental snapshot leaves out unchanged versions: it is not a listing to delete against
            complete=seen_before is None,
        )

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path.name} is not UTF-8 text") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path.name} must hold a JSON object")
        return data

    def _read_version(self, model: str, vdir: Path,
                      issues: list[SyncIssue] | None = None) -> tuple[VersionRecord, RunRecord | None]:
        if not vdir.name.isdigit() or int(vdir.name) < 1:
            raise ValueError(f"version folder name must be a positive integer, got {vdir.name!r}")
        if not (vdir / "metadata.json").exists():
            raise ValueError("metadata.json is missing (partial version folder)")
        meta = self._read_json(vdir / "metadata.json")
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing:
            raise ValueError(f"metadata.json lacks {', '.join(missing)}")
        status = meta["approval_status"]
        if status not in APPROVAL_STATUSES:
            raise ValueError(f"approval_status {status!r} is not one of {', '.join(APPROVAL_STATUSES)}")
        artifact_name = meta.get("artifact", "model.skops")
        if not isinstance(artifact_name, str):
            raise ValueError(f"artifact must name a file of the version folder, got {artifact_name!r}")
        metrics = meta.get("metrics") or {}
        if not isinstance(metrics, dict) or not all(isinstance(v, int | float) for v in metrics.values()):
            raise ValueError("metrics must map names to numbers")
        data_uris = {
            key: self.uri(model, vdir.name, f"{key}.parquet") for key in DATA_FILES if (vdir / f"{key}.parquet").is_file()
        }
        run = meta.get("run")
        run_record = None
        if isinstance(run, dict) and run.get("name"):
            run_record = RunRecord(
                run_ref=f"run/{run['name']}",
                kind=run.get("kind", "training_job"),
                name=run["name"],
                status=run.get("status"),
                started_at=_parse_time(run["started_at"], "run.started_at") if run.get("started_at") else None,
                ended_at=_parse_time(run["ended_at"], "run.ended_at") if run.get("ended_at") else None,
                params={str(k): str(v) for k, v in (run.get("params") or {}).items()},
                metrics={str(k): float(v) for k, v in (run.get("metrics") or {}).items()},
                inputs={str(k): str(v) for k, v in (run.get("inputs") or {}).items()},
                experiment=run.get("experiment"),
                # what a cost estimate needs (governance.costs): instance type and count, billable seconds
                raw={k: run[k] for k in ("instance_type", "instance_count", "billable_seconds") if k in run},
            )
        source = meta.get("source") or {}
        record = VersionRecord(
            model=model,
            version=int(vdir.name),
            source_ref=f"{model}/{vdir.name}",
            approval_status=status,
            approval_description=meta.get("approval_description"),
            created_at=_parse_time(meta["created_at"], "created_at"),
            created_by=meta.get("created_by"),
            modified_at=_parse_time(meta["modified_at"], "modified_at") if meta.get("modified_at") else None,
            artifact_uri=self.uri(model, vdir.name, artifact_name),
            framework=meta.get("framework"),
            data_uris=data_uris,
            metrics={str(k): float(v) for k, v in metrics.items()},
            metadata={str(k): (v if isinstance(v, str) else json.dumps(v, sort_keys=True))
                      for k, v in (meta.get("metadata") or {}).items()},
            run_ref=run_record.run_ref if run_record else None,
            source_version_ref=source.get("ref"),
            source_account=source.get("account"),
        )
        record = self._digested(record, vdir, artifact_name, meta.get("artifact_sha256"), issues)
        raw = dict(meta)
        # the watermark's version hash: a changed digest (bytes replaced) or problem re-emits the version
        raw["_hash"] = record_hash([meta, record.artifact_sha256, record.artifact_digest_problem])
        return dataclasses.replace(record, raw=raw), run_record

    def _digested(self, record: VersionRecord, vdir: Path, artifact_name: str, recorded: str | None,
                  issues: list[SyncIssue] | None) -> VersionRecord:
        """``record`` with its artifact's digest (or why there is none): a missing file is a problem of the version;
        a path out of the registry is refused, at sync as at fetch (a sync issue, no digest, no artifact URI)."""
        if not digests.ENABLED:
            return record
        try:
            missing = not self._artifact_file(vdir, artifact_name).is_file()
        except InputError as exc:
            if issues is not None:
                issues.append(SyncIssue(record.source_ref, str(exc)))
            record = dataclasses.replace(record, artifact_uri=None)
            return digests.settle(record, digests.unreadable(str(exc)), None)
        observed = (digests.unreadable(f"artifact {artifact_name} is missing") if missing
                    else self.artifact_digest(record))
        return digests.settle(record, observed, recorded, issues)

    def _read_deployments(self) -> list[DeploymentRecord]:
        data = json.loads((self.base / "deployments.json").read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError("deployments.json must hold a list")
        out = []
        for d in data:
            out.append(
                DeploymentRecord(
                    endpoint=d["endpoint"],
                    variant=d.get("variant", "AllTraffic"),
                    status=d.get("status", "InService"),
                    model=d["model"],
                    version_ref=f"{d['model']}/{int(d['version'])}",
                    weight=float(d.get("weight", 1.0)),
                    updated_at=_parse_time(d["updated_at"], "updated_at") if d.get("updated_at") else None,
                    raw={k: d[k] for k in ("instance_type", "instance_count", "created_at") if k in d},
                )
            )
        return out

    # -- promotion (connectors.base.Promoter) -----------------------------------------------------

    def _version_dir(self, ref: str) -> Path:
        path = (self.base / ref).resolve()
        if self.base not in path.parents or not (path / "metadata.json").is_file():
            raise NotFound(f"account {self.account.name}: no version {ref!r}")
        return path

    def set_approval(self, version: VersionRecord, status: str, description: str) -> VersionRecord:
        """Write the approval status into the version's metadata.json; return the version as re-read."""
        require_approval_status(status)
        vdir = self._version_dir(version.source_ref)
        meta = self._read_json(vdir / "metadata.json")
        if meta.get("approval_status") != status or meta.get("approval_description") != description:
            meta["approval_status"] = status
            meta["approval_description"] = description
            meta["modified_at"] = utcnow().replace(microsecond=0).isoformat()
            _write_json_atomic(vdir / "metadata.json", meta)
        return self._read_version(version.model, vdir)[0]

    def find_promoted(self, model: str, request_id: str) -> VersionRecord | None:
        """The version a promotion with ``request_id`` already registered here, if any."""
        mdir = self.base / model
        if not mdir.is_dir():
            return None
        for vdir in mdir.iterdir():
            if not (vdir.is_dir() and vdir.name.isdigit() and (vdir / "metadata.json").is_file()):
                continue
            meta = self._read_json(vdir / "metadata.json")
            if (meta.get("promotion") or {}).get("request_id") == request_id:
                return self._read_version(model, vdir)[0]
        return None

    def register_copy(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> VersionRecord:
        """Copy ``source`` into this registry as the model's next version, once per request id."""
        existing = self.find_promoted(source.model, ref.request_id)
        if existing is not None:  # a retry: the copy made before still holds the approved bytes, or it is refused
            copy = self.artifact_digest(existing, fresh=True)
            digests.require(ref.artifact_sha256, copy, f"the copy {existing.artifact_uri} in account {self.account.name}")
            return existing
        mdir = self.base / source.model
        mdir.mkdir(parents=True, exist_ok=True)
        staging = mdir / f".promote-{ref.request_id}"
        if staging.exists():  # left by a crash before the rename: start the copy again
            shutil.rmtree(staging)
        staging.mkdir()
        artifact_name = PurePosixPath(source.artifact_uri or "model.skops").name
        try:
            copied = self._copy_verified(source, source_connector, ref, staging / artifact_name)
        except ArtifactMismatch:
            shutil.rmtree(staging)  # nothing of other bytes stays in this registry
            raise
        for key, uri in source.data_uris.items():
            if key in ("reference", "validation"):
                shutil.copyfile(source_connector.fetch(uri), staging / f"{key}.parquet")
        meta = {k: v for k, v in source.raw.items() if not k.startswith("_")}
        meta.update(
            {
                "approval_status": "Approved",
                "approval_description": f"Promoted by Countersign request {ref.request_id}",
                "artifact": artifact_name,
                # the digest of the bytes copied, as this registry records it (a later swap is a sync issue)
                "artifact_sha256": copied,
                "source": {"account": ref.source_account, "ref": ref.source_ref},
                "promotion": {
                    "request_id": ref.request_id,
                    "ledger_hash": ref.ledger_hash,
                    "approved_by": list(ref.approved_by),
                },
            }
        )
        meta.pop("modified_at", None)
        _write_json_atomic(staging / "metadata.json", meta)
        # The rename is the commit point: a crash before it leaves only the hidden staging folder.
        for _ in range(100):
            numbers = [int(p.name) for p in mdir.iterdir() if p.is_dir() and p.name.isdigit()]
            target = mdir / str(max(numbers, default=0) + 1)
            try:
                os.rename(staging, target)
                break
            except OSError:
                if target.exists():
                    continue
                raise
        else:  # pragma: no cover - only under a storm of concurrent promotions
            raise ConnectorError(f"account {self.account.name}: could not allocate a version number for {source.model}")
        return self._read_version(source.model, target)[0]

    def _copy_verified(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef,
                       target: Path) -> str:
        """Copy ``source``'s artifact to ``target`` hashing the bytes as they are written, refuse them when they are
        not the ones ``ref`` approved, then read the copy back and hash it again; the digest copied."""
        with open(source_connector.fetch(source.artifact_uri or ""), "rb") as src, open(target, "wb") as dst:
            copied, _ = sha256_stream(src, copy_to=dst)
        digests.require(ref.artifact_sha256, copied,
                        f"the source artifact {source.artifact_uri} (account {ref.source_account})")
        digests.require(copied, sha256_file(target), f"the copy in account {self.account.name} ({target})")
        return copied
