"""Promotion into an MLflow account (:class:`connectors.base.Promoter`): approvals written back as tags, an alias
moved on one server, a complete copy registered on another."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from connectors import digests
from connectors.base import Connector, PromotionRef, VersionRecord, require_approval_status
from connectors.mlflow.client import API, ARTIFACTS_API
from connectors.mlflow.datasets import split_digest, with_digest
from connectors.mlflow.extract import VERSION_PAGE, Extraction
from connectors.mlflow.records import quote_filter, split_version_ref, tag_dict
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
        # one registry is one server *and* one workspace: model names are unique only within a workspace
        return (isinstance(other, Promotion) and other.settings.registry == self.settings.registry
                and other.settings.workspace == self.settings.workspace)

    def register_copy(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef, *,
                      environment: str | None = None) -> VersionRecord:
        """Promote ``source`` into this account, once per request id (a retry returns the same version).

        Same server (one registry whose aliases mean environments): move the alias of ``environment`` (default:
        this account's) onto the source version and tag it with the request. Another server: register a complete
        copy — the model's bytes (checked against the approval before anything is written, read back after), the
        source run's params and metrics in a run of the experiment "Countersign promotions", the reference and
        validation data copied next to it (tags pointing at this server), the version's description and tags, the
        registered model's description and tags (owner, risk tier, intended use) — then the alias this account maps
        to the target environment. Each step is found again or repeated harmlessly by a retry after a crash.
        """
        target_env = environment or ref.environment or self.environment
        part_of = getattr(source_connector, "source_part", None)
        if part_of is not None:  # a several-workspace account: the source's own workspace, its bare model name
            source_connector, source = part_of(source)
        if self._same_server(source_connector):
            return self._move_alias(source, ref, target_env)
        live = self._live(source, source_connector)
        copy = self.find_copy(source.model, ref.request_id)
        if copy is None:
            copy = self._register(live, source_connector, ref)
        else:  # a retry: the copy made before still holds the approved bytes, or it is refused
            digests.require(ref.artifact_sha256, self.artifact_digest(copy, fresh=True),
                            f"the copy {copy.artifact_uri} on {self.settings.registry}")
        self._complete_model(source.model, source_connector)
        alias = self.settings.alias_for(target_env)
        if alias and alias not in copy.labels:
            name, number = split_version_ref(copy.source_ref)
            self.registry.post("registered-models/alias", {"name": name, "alias": alias, "version": number})
            self._touch(name, number, self._get_version(name, number).get("description"))
            copy = self.read_version(name, number)
        return copy

    def _live(self, source: VersionRecord, source_connector: Connector) -> VersionRecord:
        """``source`` as its own server answers now (its run, data and description, which a record rebuilt from the
        catalog does not carry); ``source`` itself when the source is not an MLflow account."""
        if not isinstance(source_connector, Promotion):
            return source
        return source_connector.read_version(*split_version_ref(source.source_ref))

    def _register(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> VersionRecord:
        """Copy the bytes, the run and the data, then create the version (its tags carry the request id)."""
        if not source.artifact_uri:
            raise ConnectorError(f"{source.source_ref} has no model artifact to promote")
        # the source's bytes are downloaded and checked before anything is written on this server
        staged = self._stage(source, source_connector, ref)
        run_id, artifact_root = self._promotion_run(source, source_connector, ref)
        model_uri = self._upload_model(staged, artifact_root)
        tags = {k: val for k, val in source.metadata.items() if not k.startswith("countersign.") or k == TAG_FRAMEWORK}
        tags[TAG_ARTIFACT_SHA256] = staged.digest
        tags.update(self._copy_data(source, source_connector, f"{artifact_root}/data"))
        tags.update(self._provenance(ref, source_connector))
        tags.update({TAG_APPROVAL: "Approved",
                     TAG_APPROVAL_DESCRIPTION: f"Promoted by Countersign request {ref.request_id}"})
        self._ensure_model(source.model)
        description = (source.raw or {}).get("description") or (
            f"Promoted by Countersign from {ref.source_ref} (request {ref.request_id})")
        # the request id travels with the create call itself: the version and its provenance appear together
        created = self.registry.post("model-versions/create", {
            "name": source.model, "source": model_uri, "run_id": run_id, "description": description,
            "tags": [{"key": k, "value": str(val)[:5000]} for k, val in tags.items() if val],
        })["model_version"]
        return self.read_version(source.model, created["version"])

    def _copy_data(self, source: VersionRecord, source_connector: Connector, folder: str) -> dict[str, str]:
        """The version's data copied to this server (the source fetch checks MLflow's digest on the way), as
        ``countersign.data.*`` tags pointing here and keeping the digest. ``current`` stays behind: monitoring data
        belongs to the environment it was captured in, and this one will have its own."""
        tags: dict[str, str] = {}
        for key, uri in sorted(source.data_uris.items()):
            if key == "current":
                continue
            _, digest = split_digest(uri)
            tags[TAG_DATA + key] = with_digest(self._copy_file(source_connector, uri, folder, key), digest)
        return tags

    def _ensure_model(self, name: str) -> None:
        try:
            self.registry.post("registered-models/create", {"name": name})
        except ConnectorError as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc):
                raise

    def _complete_model(self, name: str, source_connector: Connector) -> None:
        """Give the registered model here the source's description (when it has none) and tags: owner, risk tier,
        intended use and the rest of what the model card of an MLflow model is."""
        if not isinstance(source_connector, Promotion):
            return
        theirs = source_connector.registry.get("registered-models/get", name=name)["registered_model"]
        self._ensure_model(name)
        mine = self.registry.get("registered-models/get", name=name)["registered_model"]
        if theirs.get("description") and not mine.get("description"):
            self.registry.request("PATCH", f"{API}/registered-models/update",
                                  body={"name": name, "description": theirs["description"]})
        have = tag_dict(mine.get("tags"))
        for key, value in tag_dict(theirs.get("tags")).items():
            if have.get(key) != value:
                self.registry.post("registered-models/set-tag", {"name": name, "key": key, "value": value})

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
        experiment = self._promotion_experiment()
        flt = f"tags.`{TAG_REQUEST}` = {quote_filter(ref.request_id)}"
        found = self.tracking.post("runs/search", {"experiment_ids": [experiment], "filter": flt, "max_results": 10,
                                                   "order_by": ["attributes.start_time ASC"]}).get("runs") or []
        info = found[0]["info"] if found else self._new_run(experiment, source, source_connector, ref)
        return info["run_id"], self._artifact_path(info["artifact_uri"])

    def _promotion_experiment(self) -> str:
        got = self.tracking.request("GET", f"{API}/experiments/get-by-name",
                                    params={"experiment_name": PROMOTION_EXPERIMENT}, missing_ok=True)
        if got:
            return got["experiment"]["experiment_id"]
        try:
            return self.tracking.post("experiments/create", {"name": PROMOTION_EXPERIMENT})["experiment_id"]
        except ConnectorError as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc):
                raise
        return self.tracking.get("experiments/get-by-name",
                                 experiment_name=PROMOTION_EXPERIMENT)["experiment"]["experiment_id"]

    def _new_run(self, experiment: str, source: VersionRecord, source_connector: Connector,
                 ref: PromotionRef) -> dict[str, Any]:
        """A finished run with the source run's params and the version's metrics, tagged with the request."""
        params: dict[str, str] = {}
        if isinstance(source_connector, Promotion) and source.run_ref:
            runs, problems = source_connector._runs({source.run_ref.split("/", 1)[1]})
            if problems:
                raise ConnectorError(next(iter(problems.values())))
            params = next(iter(runs.values())).params if runs else {}
        tags = {**self._provenance(ref, source_connector),
                "mlflow.runName": f"promote {source.model} v{source.version} ({ref.request_id})"[:250]}
        info = self.tracking.post("runs/create", {
            "experiment_id": experiment, "run_name": tags["mlflow.runName"], "start_time": int(time.time() * 1000),
            "tags": [{"key": k, "value": val} for k, val in tags.items() if val],
        })["run"]["info"]
        now = int(time.time() * 1000)
        metrics = [{"key": k, "value": val, "timestamp": now, "step": 0} for k, val in sorted(source.metrics.items())]
        plist = [{"key": k, "value": str(val)[:6000]} for k, val in sorted(params.items())]
        for i in range(0, max(len(metrics), len(plist)), 100):
            self.tracking.post("runs/log-batch", {"run_id": info["run_id"], "metrics": metrics[i:i + 100],
                                                  "params": plist[i:i + 100]})
        self.tracking.post("runs/update", {"run_id": info["run_id"], "status": "FINISHED", "end_time": now})
        return info

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
        suffix = "".join(PurePosixPath(urlsplit(split_digest(uri)[0]).path).suffixes[-2:]) or local.suffix
        target = f"{folder}/{key}{suffix}"
        self._upload(local, target)
        return f"mlflow-artifacts:/{target}"


@dataclasses.dataclass(frozen=True)
class _Staged:
    """A model downloaded for a promotion and checked: (relative path or file name, local file) pairs, its digest."""

    files: list[tuple[str, Path]]
    digest: str
    directory: bool


