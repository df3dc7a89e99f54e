"""The settings of a ``connector = "zenml"`` account and the run metadata keys Countersign reads and writes (light:
validating a config imports no HTTP client)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlsplit

from connectors.settings import ConnectorSettings
from core.structs import FieldError, Meta, field, set_field

WATERMARK_VERSION = 1
STAGES = ("staging", "production", "archived")
META_APPROVAL = "countersign.approval"
META_APPROVAL_DESCRIPTION = "countersign.approval_description"
META_REQUEST = "countersign.request_id"
META_LEDGER = "countersign.ledger_hash"
META_APPROVED_BY = "countersign.approved_by"
META_SOURCE_REF = "countersign.source_ref"
META_SOURCE_ACCOUNT = "countersign.source_account"
META_CREATED_BY = "countersign.created_by"
META_ARTIFACT = "countersign.artifact_uri"
META_ARTIFACT_SHA256 = "countersign.artifact_sha256"  # the digest of the bytes a promotion checked (registry digest)
META_DATA = "countersign.data."  # countersign.data.reference = <artifact name or uri> names a dataset of the version
META_REPORTS = "countersign.reports"  # {"evidently_report": <artifact name>, "shap_values": <artifact name>}
OVERLAP = dt.timedelta(seconds=2)


class ZenMLSettings(ConnectorSettings):
    """The settings of one ``connector = "zenml"`` account."""

    url: Annotated[str, Meta(min_length=1)]  # the server, e.g. https://zenml.example.com
    api_key_env: Annotated[str, Meta(min_length=1)]  # the environment variable holding a service account's API key
    project: str = "default"
    insecure_tls: bool = False  # skip TLS verification (a test server with a self-signed certificate only)
    ca_bundle: str | None = None  # a CA bundle file to verify the server with (default: the system's)
    # ZenML stage -> Countersign environment, when one server holds several environments
    stage_environments: dict[str, str] = field(default_factory=dict)
    # the stage a promotion into this account sets when its environment is not in stage_environments
    promotion_stage: str = "production"
    # local artifact store paths are fetched only under this folder (relative to the workspace)
    artifact_root: str | None = None
    page_size: Annotated[int, Meta(ge=1, le=1000)] = 200
    timeout_seconds: Annotated[float, Meta(gt=0)] = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        stages = self.stage_environments
        bad = [s for s in stages if s not in STAGES]
        if bad:
            raise FieldError("stage_environments", f"unknown ZenML stage {bad[0]!r} (stages: {', '.join(STAGES)})")
        if len(set(stages.values())) != len(stages):
            raise FieldError("stage_environments", "two stages map to the same environment")
        if self.promotion_stage not in ("staging", "production"):
            raise FieldError("promotion_stage", "promotion_stage must be 'staging' or 'production'")
        if urlsplit(self.url).scheme not in ("http", "https") or not urlsplit(self.url).netloc:
            raise FieldError("url", f"{self.url!r} is not an http(s) URL")
        set_field(self, "url", self.url.rstrip("/"))

    def environments(self) -> tuple[str, ...]:
        """The environments this account can hold besides its own (the values of ``stage_environments``)."""
        return tuple(self.stage_environments.values())

    def label_environment(self, label: str) -> str | None:
        return self.stage_environments.get(label)

    def secret_env(self) -> tuple[str, ...]:
        """The API key's variable, read at the edge."""
        return (self.api_key_env,)

    def data_hint(self, key: str) -> str | None:
        return (f"link a data artifact named {key!r} to the model version, or set its run metadata "
                f"{META_DATA}{key} = the dataset's URI")

    def location(self) -> str | None:
        return f"{self.url} ({self.project})"

    def stage_for(self, environment: str) -> str:
        """The stage that puts a version into ``environment``."""
        for stage, env in self.stage_environments.items():
            if env == environment:
                return stage
        return self.promotion_stage

