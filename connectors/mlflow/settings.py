"""The settings of a ``connector = "mlflow"`` account and the tags Countersign reads and writes (light: validating a
config imports no HTTP client)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlsplit

from connectors import naming
from connectors.settings import ConnectorSettings
from core.canonical import canonical_json
from core.errors import ConfigError
from core.structs import FieldError, Meta, field, replace, set_field

# tags Countersign reads and writes on model versions (MLflow tag keys allow letters, digits and _-./ and spaces)
TAG_APPROVAL = "countersign.approval"
TAG_APPROVAL_DESCRIPTION = "countersign.approval_description"
TAG_REQUEST = "countersign.request_id"
TAG_LEDGER = "countersign.ledger_hash"
TAG_APPROVED_BY = "countersign.approved_by"
TAG_SOURCE_REF = "countersign.source_ref"
TAG_SOURCE_ACCOUNT = "countersign.source_account"
TAG_SOURCE_SERVER = "countersign.source_server"
TAG_PROMOTED_ALIAS = "countersign.promoted_alias"
TAG_REPORT = "countersign.report."  # countersign.report.shap_values = a file of the run (or a URI): pipeline evidence
TAG_DATA = "countersign.data."  # countersign.data.reference = mlflow-artifacts:/... names a dataset of the version
TAG_FRAMEWORK = "countersign.framework"
TAG_ARTIFACT_SHA256 = "countersign.artifact_sha256"  # the digest of the bytes a promotion copied (registry digest)
PROMOTION_EXPERIMENT = "Countersign promotions"

# run dataset contexts → the data_uris keys governance reads (one table for every kind: connectors.naming)
CONTEXTS = naming.CONTEXTS
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ALIAS = re.compile(r"^[\w\-]+$")
_WORKSPACE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_MANAGED_ARN = re.compile(r"^arn:aws[\w-]*:sagemaker:([a-z0-9-]+):(\d{12}):(mlflow-tracking-server|mlflow-app)/([\w-]+)$")
# files that hold a model in a format Countersign loads without running code, best first
SAFE_MODEL_FILES = (".skops", ".ubj", ".json", ".lgb", ".onnx")


def _http_url(name: str, v: str | None) -> str | None:
    if v is None:
        return None
    parts = urlsplit(v.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FieldError(name, f"must be an http:// or https:// URL of an MLflow server, got {v!r} "
                         "(file stores and databricks:// URIs are not read by Countersign)")
    return v.strip().rstrip("/")


def _workspace_name(field_name: str, v: str) -> None:
    if not _WORKSPACE.match(v):
        raise FieldError(field_name, f"{v!r} is not an MLflow workspace name (lower-case letters, digits and -)")


def _workspace_names(v: tuple[str, ...] | str | None) -> None:
    if isinstance(v, str) and v != "*":
        raise FieldError("workspaces", f'must be a list of workspace names, or "*" for every workspace, got {v!r}')
    if isinstance(v, tuple):
        if not v:
            raise FieldError("workspaces",
                             'lists no workspace: name at least one, or "*" for every workspace of the server')
        for name in v:
            _workspace_name("workspaces", name)
        if len(set(v)) != len(v):
            raise FieldError("workspaces", f"names a workspace twice: {', '.join(v)}")


class MlflowSettings(ConnectorSettings):
    """The keys of one ``[[accounts]]`` entry with ``connector = "mlflow"``."""

    tracking_uri: str  # http(s) URL of the MLflow tracking server
    registry_uri: str | None = None  # the model registry server, when not the tracking server
    token_env: str = "MLFLOW_TRACKING_TOKEN"
    username_env: str = "MLFLOW_TRACKING_USERNAME"
    password_env: str = "MLFLOW_TRACKING_PASSWORD"
    insecure_tls: bool = False
    # alias -> environment, for one server whose aliases mean environments; the first listed wins for a version
    # holding several
    alias_environments: dict[str, str] = field(default_factory=dict)
    # the MLflow workspace (3.10+, a server started with --enable-workspaces) this account reads; None: the server's
    # default. Every call carries it in the X-MLFLOW-WORKSPACE header
    workspace: str | None = None
    # several workspaces of the server in this one account (or "*": every workspace the server lists to these
    # credentials); models are then named WORKSPACE/MODEL (connectors.mlflow.workspaces)
    workspaces: tuple[str, ...] | str | None = None  # a list, or "*"
    # hosts whose http(s) dataset URLs Countersign may download (without this account's credentials)
    data_hosts: tuple[str, ...] = ()
    # S3 buckets whose s3:// datasets Countersign may read, with the host's own AWS configuration
    data_buckets: tuple[str, ...] = ()
    # the server's --artifacts-destination as the server sees it: local dataset paths under it are read through the
    # artifact proxy
    server_artifact_root: str | None = None
    # the ARN of the SageMaker-managed MLflow tracking server or MLflow App this server is, when its models are
    # registered in SageMaker's Model Registry too: each version and its model package are then one inventory line
    sagemaker_arn: str | None = None
    max_concurrency: Annotated[int, Meta(ge=1, le=16)] = 4
    timeout_seconds: Annotated[float, Meta(gt=0, le=600)] = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("tracking_uri", "registry_uri"):
            set_field(self, name, _http_url(name, getattr(self, name)))
        if self.workspace is not None:
            _workspace_name("workspace", self.workspace)
        _workspace_names(self.workspaces)
        if self.sagemaker_arn is not None:
            if not _MANAGED_ARN.match(self.sagemaker_arn.strip()):
                raise FieldError("sagemaker_arn", f"{self.sagemaker_arn!r} is not the ARN of a SageMaker MLflow "
                                 "tracking server or MLflow App (arn:aws:sagemaker:<region>:<account>:"
                                 "mlflow-tracking-server/<name>)")
            set_field(self, "sagemaker_arn", self.sagemaker_arn.strip())
        for name in ("token_env", "username_env", "password_env"):
            if not _ENV_NAME.match(getattr(self, name)):
                raise FieldError(name, f"must name an environment variable (letters, digits, _), got "
                                 f"{getattr(self, name)!r}; credentials never go into countersign.toml")
        self._check_aliases()
        if self.workspace is not None and self.workspaces is not None:
            raise ValueError("set workspace (one) or workspaces (several, or \"*\"), not both")

    def _check_aliases(self) -> None:
        seen: dict[str, str] = {}
        for alias, env in self.alias_environments.items():
            if not _ALIAS.match(alias) or alias == "latest" or re.fullmatch(r"[vV]\d+", alias):
                raise FieldError("alias_environments", f"{alias!r} is not a valid MLflow alias")
            if env in seen:
                raise ValueError(f"aliases {seen[env]!r} and {alias!r} both mean environment {env!r}: "
                                 "promotion would not know which one to move")
            seen[env] = alias

    def for_workspace(self, name: str) -> MlflowSettings:
        """These settings narrowed to the one workspace ``name`` (a part of a several-workspace account)."""
        return replace(self, workspace=name, workspaces=None)

    def environments(self) -> tuple[str, ...]:
        """The environments this account's versions can be in through their aliases (empty when not used)."""
        return tuple(dict.fromkeys(self.alias_environments.values()))

    def label_environment(self, label: str) -> str | None:
        return self.alias_environments.get(label)

    def secret_env(self) -> tuple[str, ...]:
        """The credential variables, read at the edge (``AccountInfo.secrets``)."""
        return (self.token_env, self.username_env, self.password_env)

    def data_hint(self, key: str) -> str | None:
        contexts = [c for c, k in CONTEXTS.items() if k == key]  # the usual name first
        uri = "a file the server stores (an mlflow-artifacts:/ or runs:/ URI)"
        if not contexts:
            return f"tag the version {TAG_DATA}{key} = {uri}"
        also = f" (or {', '.join(repr(c) for c in contexts[1:])})" if contexts[1:] else ""
        return (f"log {uri} as an input of the version's run with context {contexts[0]!r}{also} — "
                f"mlflow.log_input(mlflow.data.from_pandas(df, source=HTTPDatasetSource(uri)), "
                f"context={contexts[0]!r}), see docs/mlflow.md — or tag the version {TAG_DATA}{key} = that URI")

    def sagemaker_twin(self, model: str, version: int | str) -> str | None:
        """The ARN of the model package SageMaker's automatic registration made for ``model`` ``version``: group
        ``<model>-<first 6 hex of SHA-256 of the server name or App id>``, same version number (AWS documents the
        name; the numbers match when registration sync was on from the model's first version)."""
        match = _MANAGED_ARN.match(self.sagemaker_arn or "")
        if not match:
            return None
        region, account, _, name = match.groups()
        suffix = hashlib.sha256(name.encode()).hexdigest()[:6]
        return f"arn:aws:sagemaker:{region}:{account}:model-package/{model}-{suffix}/{version}"

    def location(self) -> str | None:
        if self.workspaces == "*":
            return self.tracking_uri + " (every workspace)"
        if self.workspaces:
            return self.tracking_uri + f" (workspaces {', '.join(self.workspaces)})"
        return self.tracking_uri + (f" (workspace {self.workspace})" if self.workspace else "")

    def alias_for(self, environment: str) -> str | None:
        """The alias that means ``environment``, if any."""
        return next((a for a, e in self.alias_environments.items() if e == environment), None)

    @property
    def registry(self) -> str:
        return self.registry_uri or self.tracking_uri

    def credentials(self, environ: Mapping[str, str]) -> Credentials:
        """The credentials the named variables hold in ``environ`` (a token wins over a user name and password)."""
        token = environ.get(self.token_env) or None
        user = environ.get(self.username_env) or None
        password = environ.get(self.password_env) or None
        if user and not password:
            raise ConfigError(f"{self.username_env} is set but {self.password_env} is not: set both, or a token "
                              f"in {self.token_env}")
        return Credentials(token=token, username=user if not token else None, password=password if not token else None,
                           source=(self.token_env if token else f"{self.username_env}/{self.password_env}" if user
                                   else None))


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What goes into the Authorization header; ``source`` names the variables it came from (for messages)."""

    token: str | None = dataclasses.field(default=None, repr=False)
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    source: str | None = None

    def digest(self) -> str:
        """A hash of the credentials: pooled clients are shared only between equal credentials."""
        return hashlib.sha256(canonical_json([self.token, self.username, self.password]).encode()).hexdigest()

