"""The settings of a ``connector = "sagemaker"`` account (light: validating a config imports no boto3)."""

from __future__ import annotations

from typing import Annotated

from connectors.settings import ConnectorSettings
from core.structs import Meta


class SageMakerSettings(ConnectorSettings):
    """``[[accounts]] connector = "sagemaker"``: one AWS account and region, and how to reach it."""

    region: Annotated[str, Meta(min_length=1)]
    # STS AssumeRole into the account for reading (and for promoting, unless promotion_role_arn is set)
    role_arn: str | None = None
    external_id: str | None = None
    # the boto3 profile whose credentials (and endpoint) are the source identity; else the default chain
    profile: str | None = None
    promotion_role_arn: str | None = None
    # s3://bucket/prefix of the endpoints' data capture
    monitoring_prefix: str | None = None
    # the bucket a promotion copies artifacts into
    artifact_bucket: str | None = None
    # a group tag naming the logical model (several groups may then form one model)
    model_tag: str | None = None
    # an execution writes the target environment as the package's ModelLifeCycle stage beside its approval, and
    # checks it reads back (false only for a registry that keeps no ModelLifeCycle: moto 5.2.5, or a partition
    # without the 2025 API)
    model_life_cycle: bool = True
    # parallel describe calls during extraction
    max_concurrency: Annotated[int, Meta(ge=1, le=16)] = 2

    def location(self) -> str | None:
        return self.region

    def data_hint(self, key: str) -> str | None:
        meta = f"add model package metadata countersign:data:{key} = the file's s3:// URI"
        if key == "current":
            return (f"deploy it on an endpoint whose data capture writes under the account's monitoring_prefix, or "
                    f"{meta}")
        channel = {"reference": "train", "validation": "validation"}.get(key)
        return f"name the file in its training job's '{channel}' channel, or {meta}" if channel else meta
