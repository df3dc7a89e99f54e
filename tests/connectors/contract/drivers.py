"""The source drivers of the built-in kinds: a folder tree under tmp_path, and the moto server for SageMaker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

from tests.connectors.contract.driver import SourceDriver


class FolderDriver(SourceDriver):
    """Folder registries: one folder per account under ``root``."""

    kind = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _model(self, account: str, model: str) -> Path:
        return self.root / account / model

    def settings(self, account: str) -> dict[str, Any]:
        (self.root / account).mkdir(parents=True, exist_ok=True)
        return {"path": str(self.root / account)}

    def bad_settings(self) -> list[tuple[dict[str, Any], str]]:
        return [({}, "path"), ({"path": "x", "pth": "y"}, "pth"), ({"path": ""}, "path")]

    def create_model(self, account: str, model: str) -> None:
        self._model(account, model).mkdir(parents=True)
        (self._model(account, model) / "model.json").write_text(json.dumps({"description": f"{model} model"}))

    def add_version(self, account: str, model: str) -> int:
        mdir = self._model(account, model)
        n = max((int(p.name) for p in mdir.iterdir() if p.name.isdigit()), default=0) + 1
        vdir = mdir / str(n)
        vdir.mkdir()
        (vdir / "model.skops").write_bytes(self.artifact_bytes(account, model, n))
        (vdir / "metadata.json").write_text(json.dumps({
            "approval_status": "PendingManualApproval", "created_at": f"2026-05-{n:02d}T10:00:00Z",
            "created_by": "ds@example.com", "metrics": {"auc": 0.8}}))
        return n

    def _edit(self, account: str, model: str, version: int, **changes: Any) -> None:
        path = self._model(account, model) / str(version) / "metadata.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))

    def change_version(self, account: str, model: str, version: int) -> None:
        self._edit(account, model, version, approval_status="Approved", approval_description="validated")

    def delete_version(self, account: str, model: str, version: int) -> None:
        shutil.rmtree(self._model(account, model) / str(version))

    def corrupt_version(self, account: str, model: str, version: int) -> None:
        (self._model(account, model) / str(version) / "metadata.json").write_text("{not json")

    def artifact_bytes(self, account: str, model: str, version: int) -> bytes:
        return f"artifact of {account}/{model}/{version}".encode()

    def artifact_files(self, account: str, model: str, version: int) -> bytes:
        return (self._model(account, model) / str(version) / "model.skops").read_bytes()

    def replace_artifact(self, account: str, model: str, version: int, data: bytes) -> None:
        # another model file copied over the approved one (shutil.copyfile keeps the inode, as cp does)
        other = self.root / "other-model.skops"
        other.write_bytes(data)
        shutil.copyfile(other, self._model(account, model) / str(version) / "model.skops")

    def remove_artifact(self, account: str, model: str, version: int) -> None:
        (self._model(account, model) / str(version) / "model.skops").unlink()

    def outside_uris(self, account: str) -> list[str]:
        other = "dst" if account == "src" else "src"
        return [f"folder://{account}/../{other}/m/1/model.skops", f"folder://{other}/m/1/model.skops",
                f"folder://{account}/%2e%2e/x", "/etc/passwd", "file:///etc/passwd", "s3://bucket/key"]


class SageMakerDriver(SourceDriver):
    """SageMaker accounts on the moto server (each suite account is one AWS account id)."""

    kind = "sagemaker"
    ACCOUNT_IDS: ClassVar[dict[str, str]] = {"src": "111111111111", "dst": "333333333333"}

    def __init__(self) -> None:
        from tests.connectors import sagemaker_seed as seed

        self.seed = seed

    def _clients(self, account: str) -> tuple[Any, Any]:
        return self.seed.clients(self.ACCOUNT_IDS[account])

    def _bucket(self, account: str) -> str:
        return self.seed.bucket_for(self.ACCOUNT_IDS[account])

    def _arn(self, account: str, model: str, version: int) -> str:
        return (f"arn:aws:sagemaker:{self.seed.REGION}:{self.ACCOUNT_IDS[account]}:model-package/"
                f"{model}/{version}")

    def settings(self, account: str) -> dict[str, Any]:
        _, s3 = self._clients(account)
        self.seed.ensure_bucket(s3, self._bucket(account))
        return {"region": self.seed.REGION, "role_arn": self.seed.role_arn(self.ACCOUNT_IDS[account]),
                "artifact_bucket": self._bucket(account), "max_concurrency": 2}

    def bad_settings(self) -> list[tuple[dict[str, Any], str]]:
        return [({"role_arn": "arn:aws:iam::1:role/x"}, "region"),
                ({"region": self.seed.REGION, "max_concurency": 2}, "max_concurency"),
                ({"region": self.seed.REGION, "max_concurrency": 99}, "max_concurrency")]

    def create_model(self, account: str, model: str) -> None:
        sm, _ = self._clients(account)
        sm.create_model_package_group(ModelPackageGroupName=model, ModelPackageGroupDescription=f"{model} model")

    def _metrics_key(self, model: str, version: int) -> str:
        return f"metrics/{model}/{version}/evaluation.json"

    def add_version(self, account: str, model: str) -> int:
        sm, s3 = self._clients(account)
        bucket = self._bucket(account)
        self.seed.ensure_bucket(s3, bucket)
        n = len(sm.list_model_packages(ModelPackageGroupName=model)["ModelPackageSummaryList"]) + 1
        artifact = self.seed.put(s3, bucket, self._artifact_key(model, n), self.artifact_bytes(account, model, n))
        metrics = self.seed.put(s3, bucket, self._metrics_key(model, n), json.dumps(self.seed.quality_doc(0.8, 0.9)))
        arn = sm.create_model_package(
            ModelPackageGroupName=model, ModelApprovalStatus="PendingManualApproval",
            ModelPackageDescription=f"{model} v{n}",
            InferenceSpecification={"Containers": [{"Image": self.seed.IMAGE, "ModelDataUrl": artifact}],
                                    "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
            ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics}}},
            CustomerMetadataProperties={"team": "risk-ml"},
        )["ModelPackageArn"]
        assert arn == self._arn(account, model, n), arn
        return n

    def change_version(self, account: str, model: str, version: int) -> None:
        sm, _ = self._clients(account)
        arn = self._arn(account, model, version)
        meta = sm.describe_model_package(ModelPackageName=arn).get("CustomerMetadataProperties") or {}
        # moto resets what an update leaves out: status, description and metadata go together
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="validated",
                                CustomerMetadataProperties=meta)

    def delete_version(self, account: str, model: str, version: int) -> None:
        # moto implements no DeleteModelPackage (AWS does): remove the package from the in-process moto store,
        # the one boundary no local server can play here
        from moto.sagemaker.models import sagemaker_backends

        backend = sagemaker_backends[self.ACCOUNT_IDS[account]][self.seed.REGION]
        del backend.model_packages[self._arn(account, model, version)]

    def corrupt_version(self, account: str, model: str, version: int) -> None:
        _, s3 = self._clients(account)
        self.seed.put(s3, self._bucket(account), self._metrics_key(model, version), "{not json")

    def artifact_bytes(self, account: str, model: str, version: int) -> bytes:
        return f"model {account} {model} {version}".encode()

    def _artifact_key(self, model: str, version: int) -> str:
        return f"models/{model}/{version}/model.tar.gz"

    def artifact_files(self, account: str, model: str, version: int) -> bytes:
        _, s3 = self._clients(account)
        return s3.get_object(Bucket=self._bucket(account), Key=self._artifact_key(model, version))["Body"].read()

    def replace_artifact(self, account: str, model: str, version: int, data: bytes) -> None:
        _, s3 = self._clients(account)
        self.seed.put(s3, self._bucket(account), self._artifact_key(model, version), data)

    def remove_artifact(self, account: str, model: str, version: int) -> None:
        _, s3 = self._clients(account)
        s3.delete_object(Bucket=self._bucket(account), Key=self._artifact_key(model, version))

    def outside_uris(self, account: str) -> list[str]:
        return ["/etc/passwd", "file:///etc/passwd", "https://example.com/model.tar.gz", "s3:///no-bucket",
                "folder://src/m/1/model.skops"]
