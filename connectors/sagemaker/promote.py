"""Promotion: writing an approval status back, and registering an approved copy in the next account (idempotent by
request id: a retry finds the copy it made before)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path
from typing import Any

from connectors import digests
from connectors.base import ArtifactDigest, Connector, PromotionRef, SyncIssue, VersionRecord
from connectors.sagemaker.capture import split_s3
from connectors.sagemaker.documents import document_refs
from connectors.sagemaker.extract import Extraction, WatermarkState
from connectors.sagemaker.metadata import (
    META_APPROVED_BY,
    META_ARTIFACT_SHA256,
    META_CREATED_BY,
    META_DATA,
    META_LEDGER,
    META_PREFIX,
    META_REQUEST,
    META_SOURCE_ACCOUNT,
    META_SOURCE_ARN,
)
from connectors.sagemaker.session import error_text
from core.canonical import canonical_json
from core.errors import ConfigError, ConnectorError
from core.hashing import sha256_file

# ModelLifeCycle.StageStatus for each approval status Countersign writes
_STAGE_STATUS = {"Approved": "Approved", "Rejected": "Rejected", "PendingManualApproval": "PendingApproval"}


def life_cycle(environment: str, status: str, description: str) -> dict[str, str]:
    """The ``ModelLifeCycle`` an approval into ``environment`` writes: the environment as the stage."""
    return {"Stage": environment[:63], "StageStatus": _STAGE_STATUS.get(status, status),
            "StageDescription": description[:1024]}


class Promotion(Extraction):
    """``set_approval`` and ``register_copy``: the writes a promotion makes in an account."""

    def _describe(self, arn: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            desc = self.client("sagemaker", "promote").describe_model_package(ModelPackageName=arn)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot describe {arn}", exc) from exc
        desc.pop("ResponseMetadata", None)
        return desc

    def _light_record(self, desc: dict[str, Any], model: str) -> VersionRecord:
        """A version record from a describe, without fetching documents (used right after a write)."""
        state = WatermarkState(groups={desc.get("ModelPackageGroupName", ""): model})
        problems: list[SyncIssue] = []
        record = self._version_record({**desc, "ModelMetrics": {}, "DriftCheckBaselines": {}}, state, {}, problems)
        reports = {k: uri for k, (uri, _) in document_refs(desc).items()}
        return dataclasses.replace(record, report_uris=reports, raw=json.loads(canonical_json(desc)))

    def set_approval(self, version: VersionRecord, status: str, description: str, *,
                     environment: str | None = None) -> VersionRecord:
        """Write an approval status and description to ``version`` — and, when the approval promotes it to
        ``environment``, its ``ModelLifeCycle`` beside it: stage = that environment, status Approved (or Rejected),
        the description — then return it as re-read with describe."""
        from botocore.exceptions import BotoCoreError, ClientError

        if status not in ("Approved", "Rejected", "PendingManualApproval"):
            raise ConnectorError(f"unknown approval status {status!r} (Approved, Rejected, PendingManualApproval)")
        current = self._describe(version.source_ref)
        # UpdateModelPackage may reset what is left out (moto does), so status, description and metadata go together
        params: dict[str, Any] = {
            "ModelPackageArn": version.source_ref, "ModelApprovalStatus": status, "ApprovalDescription": description[:1024],
        }
        if current.get("CustomerMetadataProperties"):
            params["CustomerMetadataProperties"] = current["CustomerMetadataProperties"]
        lifecycle = (life_cycle(environment, status, description) if environment and self.settings.model_life_cycle
                     else current.get("ModelLifeCycle"))
        if lifecycle:
            params["ModelLifeCycle"] = lifecycle
        try:
            self.client("sagemaker", "promote").update_model_package(**params)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot set approval of {version.source_ref}", exc) from exc
        after = self._describe(version.source_ref)
        if after.get("ModelApprovalStatus") != status or after.get("ApprovalDescription") != params["ApprovalDescription"]:
            raise ConnectorError(
                f"{version.source_ref}: approval reads back as {after.get('ModelApprovalStatus')!r} after writing "
                f"{status!r}; another writer may be changing it. Check the package in the console and retry."
            )
        if (after.get("CustomerMetadataProperties") or {}) != (current.get("CustomerMetadataProperties") or {}):
            raise ConnectorError(f"{version.source_ref}: customer metadata changed while writing the approval; retry")
        if lifecycle and (after.get("ModelLifeCycle") or {}).get("Stage") != lifecycle["Stage"]:
            raise ConnectorError(f"{version.source_ref}: ModelLifeCycle stage reads back as "
                                 f"{(after.get('ModelLifeCycle') or {}).get('Stage')!r} after writing "
                                 f"{lifecycle['Stage']!r}; check the role may sagemaker:UpdateModelPackage with a "
                                 "ModelLifeCycle (IAM conditions can restrict stages) and retry")
        return dataclasses.replace(
            version, approval_status=status, approval_description=after.get("ApprovalDescription"),
            modified_at=after.get("LastModifiedTime") or version.modified_at,
            raw=json.loads(canonical_json(after)),
        )

    @staticmethod
    def promotion_description(ref: PromotionRef) -> str:
        """The package description that marks a promoted copy (listings show it, so a retry finds the copy)."""
        return f"Promoted by Countersign from {ref.source_ref} (request {ref.request_id})"[:1024]

    def find_copy(self, group: str, request_id: str) -> dict[str, Any] | None:
        """The package in ``group`` that Countersign registered for ``request_id``, described; None if absent."""
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client("sagemaker", "promote").get_paginator("list_model_packages")
        try:
            pages = list(paginator.paginate(ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"))
        except ClientError as exc:
            if "does not exist" in error_text(exc) or "not found" in error_text(exc).lower():
                return None
            raise self._fail(f"cannot list packages of {group}", exc) from exc
        except BotoCoreError as exc:
            raise self._fail(f"cannot list packages of {group}", exc) from exc
        marker = f"(request {request_id})"
        for page in pages:
            for s in page.get("ModelPackageSummaryList", []):
                if marker in (s.get("ModelPackageDescription") or ""):
                    desc = self._describe(s["ModelPackageArn"])
                    if (desc.get("CustomerMetadataProperties") or {}).get(META_REQUEST) == request_id:
                        return desc
        return None

    def _copy_artifact(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef, group: str,
                       bucket: str) -> tuple[str, ArtifactDigest]:
        """Copy ``source``'s artifact into ``bucket`` under its content address (re-running overwrites the same
        bytes): the exact bytes uploaded are hashed first and refused unless they are the ones ``ref`` approved,
        then the copy is read back with the promotion role and hashed again. Its URI and digest."""
        from botocore.exceptions import BotoCoreError, ClientError

        local = source_connector.fetch(source.artifact_uri or "")
        digest = sha256_file(local)
        digests.require(ref.artifact_sha256, digest,
                        f"the source artifact {source.artifact_uri} (account {ref.source_account})")
        key = f"countersign/{group}/{digest}/{Path(split_s3(source.artifact_uri or '')[1]).name or 'model.tar.gz'}"
        try:
            self.client("s3", "promote").upload_file(str(local), bucket, key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot copy the artifact to s3://{bucket}/{key}", exc) from exc
        target_uri = f"s3://{bucket}/{key}"
        copy = self.s3_digest(target_uri, "promote", fresh=True)
        digests.require(digest, copy, f"the copy {target_uri} in account {self.account.name}, read back")
        return target_uri, copy

    def register_copy(self, source: VersionRecord, source_connector: Connector, ref: PromotionRef) -> VersionRecord:
        """Register ``source`` in this account's group of the same name with provenance ``ref``; idempotent."""
        from botocore.exceptions import BotoCoreError, ClientError

        sm = self.client("sagemaker", "promote")
        group = (source.raw or {}).get("ModelPackageGroupName") or source.model
        existing = self.find_copy(group, ref.request_id)
        if existing is not None:  # a retry: the copy made before still holds the approved bytes, or it is refused
            record = self._light_record(existing, source.model)
            copy = self.s3_digest(record.artifact_uri or "", "promote", fresh=True)
            digests.require(ref.artifact_sha256, copy, f"the copy {record.artifact_uri} in account {self.account.name}")
            return digests.settle(record, copy, record.metadata.get(META_ARTIFACT_SHA256))
        if not source.artifact_uri:
            raise ConnectorError(f"{source.source_ref} has no model artifact to promote")
        bucket = self.settings.artifact_bucket
        if not bucket:
            raise ConfigError(
                f"account {self.account.name!r}: set 'artifact_bucket' to the S3 bucket that receives promoted artifacts"
            )
        containers = (source.raw.get("InferenceSpecification") or {}).get("Containers") or []
        if not containers and not source.image:
            raise ConnectorError(f"{source.source_ref}: no inference image to register the copy with")

        # 1. the artifact, its bytes checked against the approval's digest on the way out and read back here
        target_uri, copy = self._copy_artifact(source, source_connector, ref, group, bucket)
        digest = copy.sha256

        # 2. the group, then the package
        try:
            sm.describe_model_package_group(ModelPackageGroupName=group)
        except ClientError:
            try:
                sm.create_model_package_group(
                    ModelPackageGroupName=group,
                    ModelPackageGroupDescription=f"{source.model} (created by Countersign promotion)",
                )
            except ClientError as exc:
                if "exist" not in error_text(exc).lower():
                    raise self._fail(f"cannot create model package group {group}", exc) from exc
        spec_containers = [
            {k: v for k, v in {**c, "ModelDataUrl": target_uri}.items() if k in (
                "Image", "ModelDataUrl", "Environment", "Framework", "FrameworkVersion", "NearestModelName",
                "ContainerHostname", "ImageDigest", "ProductId")}
            for c in (containers or [{"Image": source.image}])
        ]
        spec = dict(source.raw.get("InferenceSpecification") or {})
        spec["Containers"] = spec_containers
        spec.setdefault("SupportedContentTypes", ["text/csv"])
        spec.setdefault("SupportedResponseMIMETypes", ["text/csv"])
        meta = {k: v for k, v in (source.metadata or {}).items() if not k.startswith(META_PREFIX) or k.startswith(META_DATA)}
        meta.update({
            META_REQUEST: ref.request_id,
            META_SOURCE_ARN: ref.source_ref,
            META_SOURCE_ACCOUNT: ref.source_account,
            META_APPROVED_BY: ",".join(ref.approved_by)[:256],
            META_LEDGER: ref.ledger_hash or "",
            META_CREATED_BY: (source.created_by or "")[:256],
            META_ARTIFACT_SHA256: digest,
        })
        meta = {k: v for k, v in meta.items() if v}  # AWS refuses empty values
        params: dict[str, Any] = {
            "ModelPackageGroupName": group,
            "ModelPackageDescription": self.promotion_description(ref),
            "InferenceSpecification": spec,
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": meta,
            # AWS treats a repeated token as the same request: one more guard against a duplicate on retry
            "ClientToken": str(uuid.uuid5(uuid.NAMESPACE_URL, f"countersign:{ref.request_id}:{group}")),
        }
        if self.settings.model_life_cycle:
            params["ModelLifeCycle"] = life_cycle(ref.environment or self.account.environment, "Approved",
                                                  self.promotion_description(ref))
        for field in ("ModelMetrics", "DriftCheckBaselines", "MetadataProperties", "Domain", "Task"):
            if source.raw.get(field):
                params[field] = source.raw[field]
        try:
            arn = sm.create_model_package(**params)["ModelPackageArn"]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"cannot register the copy of {source.source_ref} in {group}", exc) from exc
        return digests.settle(self._light_record(self._describe(arn), source.model), copy, digest)
