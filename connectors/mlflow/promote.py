"""Promotion into an MLflow account (:class:`connectors.base.Promoter`): approvals written back as tags, an alias
moved on one server, a complete copy registered on another."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

from connectors import digests
from connectors.base import Connector, PromotionRef, VersionRecord, require_approval_status
from connectors.mlflow.client import API, ARTIFACTS_API
from connectors.mlflow.extract import VERSION_PAGE, Extraction
from connectors.mlflow.records import quote_filter, split_version_ref
from connectors.mlflow.settings import (
    PROMOTION_EXPERIMENT,
    TAG_APPROVAL,
    TAG_APPROVAL_DESCRIPTION,
    TAG_APPROVED_BY,
    TAG_ARTIFACT_SHA256,
    TAG_DATA,
    TAG_FRAMEWORK,
    TAG_LEDGER,
    TAG_PROMOTED_ALIAS,
    TAG_REQUEST,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_REF,
    TAG_SOURCE_SERVER,
)
from core.errors import ConfigError, ConnectorError
from core.hashing import sha256_file


class Promotion(Extraction):
    """``set_approval`` and ``register_copy`` of one MLflow account."""

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
        name, number = split_version_ref(version.source_ref)
        current = self._get_version(name, number)
        self._set_tags(name, number, {TAG_APPROVAL: status, TAG_APPROVAL_DESCRIPTION: description[:5000]})
        self._touch(name, number, current.get("description"))
        after = self.read_version(name, number)
        if after.approval_status != status:
            raise ConnectorError(f"{version.source_ref}: approval reads back as {after.approval_status!r} after "
                                 f"writing {status!r}; another writer may be changing it; retry")
        return after

    def _same_server(self, other: Connector) -> bool:
        return isinstance(other, Promotion) and other.settings.registry == self.settings.registry

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
        server = source_connector.settings.registry if isinstance(source_connector, Promotion) else ""
        return {TAG_REQUEST: ref.request_id, TAG_LEDGER: ref.ledger_hash or "", TAG_SOURCE_REF: ref.source_ref,
                TAG_SOURCE_ACCOUNT: ref.source_account, TAG_SOURCE_SERVER: server,
                TAG_APPROVED_BY: ",".join(ref.approved_by)}

    def find_copy(self, model: str, request_id: str) -> VersionRecord | None:
        """The version of ``model`` that a promotion with ``request_id`` registered here, if any."""
        flt = f"name={quote_filter(model)} and tags.`{TAG_REQUEST}` = {quote_filter(request_id)}"
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
        name, number = split_version_ref(source.source_ref)
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
        flt = f"tags.`{TAG_REQUEST}` = {quote_filter(ref.request_id)}"
        found = self.tracking.post("runs/search", {"experiment_ids": [experiment], "filter": flt, "max_results": 10,
                                                   "order_by": ["attributes.start_time ASC"]}).get("runs") or []
        if found:
            info = found[0]["info"]
        else:
            params: dict[str, str] = {}
            if isinstance(source_connector, Promotion) and source.run_ref:
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
        if isinstance(source_connector, Promotion):
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


@dataclasses.dataclass(frozen=True)
class _Staged:
    """A model downloaded for a promotion and checked: (relative path or file name, local file) pairs, its digest."""

    files: list[tuple[str, Path]]
    digest: str
    directory: bool


