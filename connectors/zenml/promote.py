"""Promotion into a ZenML account (:class:`connectors.base.Promoter`): approvals written back as run metadata, a
stage moved on one server, a version registered on another."""

from __future__ import annotations

import json
import shutil
from typing import Any

from connectors import digests
from connectors.base import ArtifactReader, Connector, PromotionRef, VersionRecord, require_approval_status
from connectors.zenml.extract import Extraction
from connectors.zenml.settings import (
    META_APPROVAL,
    META_APPROVAL_DESCRIPTION,
    META_APPROVED_BY,
    META_ARTIFACT,
    META_ARTIFACT_SHA256,
    META_CREATED_BY,
    META_DATA,
    META_LEDGER,
    META_REPORTS,
    META_REQUEST,
    META_SOURCE_ACCOUNT,
    META_SOURCE_REF,
)
from core.errors import ConnectorError, CountersignError

# the model card fields of a ZenML model
CARD_FIELDS = ("description", "license", "audience", "use_cases", "limitations", "trade_offs", "ethics")


class Promotion(Extraction):
    """``set_approval`` and ``register_copy`` of one ZenML account."""

    def _write_metadata(self, version_id: str, values: dict[str, Any]) -> None:
        values = {k: v for k, v in values.items() if v is not None}
        types = {k: "float" if isinstance(v, float) else "int" if isinstance(v, int) and not isinstance(v, bool)
                 else "str" for k, v in values.items()}
        self.client.request("POST", "/run-metadata", json_body={
            "project": self.project_id, "resources": [{"id": version_id, "type": "model_version"}],
            "values": values, "types": types,
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
        return (isinstance(other, Promotion) and other.settings.url == self.settings.url
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
            live, card = self._source_view(source, source_connector)
            target_id = self._copy_version(live, card, ref)
            provenance.update({META_APPROVAL: "Approved",
                               META_APPROVAL_DESCRIPTION: f"Promoted by Countersign request {ref.request_id}",
                               META_CREATED_BY: live.created_by})
            if live.artifact_uri:
                provenance[META_ARTIFACT] = live.artifact_uri
            provenance.update(live.metrics)
            provenance.update(self._readable_data(live, source_connector, ref))
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

    def _source_view(self, source: VersionRecord, source_connector: Connector,
                     ) -> tuple[VersionRecord, dict[str, Any]]:
        """``source`` as its own server answers now, and its model's card (description, use cases, license,
        audience, limitations, trade-offs, ethics, tags); from the record alone when the source is no ZenML."""
        if not isinstance(source_connector, Promotion):
            return source, {}
        live = source_connector._read_version(source.source_ref)
        model_id = (live.raw.get("model") or {}).get("id")
        model = source_connector.client.request("GET", f"/models/{model_id}", params={"hydrate": "true"})
        card = {k: (model.get("metadata") or {}).get(k) for k in CARD_FIELDS}
        card["tags"] = sorted(t.get("name") for t in (model.get("resources") or {}).get("tags") or [] if t.get("name"))
        return live, card

    def _readable_data(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> dict[str, str]:
        """``countersign.data.*`` and ``countersign.reports`` entries this account can read: the source's own URI
        when it reads it (a shared artifact store), else a copy in this account's artifact store; a dataset that
        can be neither is left out (its review then says so). ``current`` stays behind: monitoring data belongs to
        the environment it was captured in."""
        out: dict[str, Any] = {}
        reports: dict[str, str] = {}
        wanted = [(META_DATA + k, u) for k, u in sorted(source.data_uris.items()) if k != "current"]
        wanted += [(k, u) for k, u in sorted(source.report_uris.items())]
        for key, uri in wanted:
            readable = self._readable(uri, source_connector, ref, key)
            if readable is None:
                continue
            if key.startswith(META_DATA):
                out[key] = readable
            else:
                reports[key] = readable
        if reports:
            out[META_REPORTS] = json.dumps(reports, sort_keys=True)
        return out

    def _readable(self, uri: str, source_connector: Connector, ref: PromotionRef, key: str) -> str | None:
        try:
            self.fetch(uri)
            return uri
        except CountersignError:
            pass
        root = self._local_root()
        if root is None:
            return None
        local = source_connector.fetch(uri)
        target = root / "countersign-promotions" / ref.request_id / f"{key.rsplit('.', 1)[-1]}{local.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
        return str(target)

    def _copy_version(self, source: VersionRecord, card: dict[str, Any], ref: PromotionRef) -> str:
        """The id of the version registered here for ``ref`` (created when missing; its name is the request's),
        in a model of the same name carrying the source model's card and tags."""
        name = f"countersign-{ref.request_id}"[:250]
        model_id = self._ensure_model(source, card)
        existing = self.client.request("GET", "/model_versions",
                                       params={"model": model_id, "name": name, "project": self.project_id})
        if existing["items"]:
            return existing["items"][0]["id"]
        description = (source.raw or {}).get("description") or (
            f"Promoted by Countersign from {source.source_account or ''} {source.source_ref}".strip())
        created = self.client.request("POST", "/model_versions", json_body={
            "model": model_id, "project": self.project_id, "name": name, "description": description,
            "tags": list((source.raw or {}).get("tags") or []),
        }, allow=(409,))
        if created is None:  # a concurrent or crashed attempt created it meanwhile
            existing = self.client.request("GET", "/model_versions",
                                           params={"model": model_id, "name": name, "project": self.project_id})
            return existing["items"][0]["id"]
        return created["id"]

    def _ensure_model(self, source: VersionRecord, card: dict[str, Any]) -> str:
        """The model of ``source``'s name here, created with the source's card, or completed with it: a card field
        this model leaves empty is filled, a tag it lacks added."""
        fields = {k: v for k, v in card.items() if k in CARD_FIELDS and v}
        found = self.client.request("GET", "/models", params={"name": source.model, "project": self.project_id,
                                                              "hydrate": "true"})
        if not found["items"]:
            return self.client.request("POST", "/models", json_body={
                "name": source.model, "project": self.project_id, "tags": card.get("tags") or [],
                **{"description": f"{source.model} (created by Countersign promotion)", **fields},
            })["id"]
        model = found["items"][0]
        have = model.get("metadata") or {}
        tags = {t.get("name") for t in (model.get("resources") or {}).get("tags") or []}
        update: dict[str, Any] = {k: v for k, v in fields.items() if not have.get(k)}
        missing = [t for t in card.get("tags") or [] if t not in tags]
        if missing:
            update["add_tags"] = missing
        if update:
            self.client.request("PUT", f"/models/{model['id']}", json_body=update)
        return model["id"]
