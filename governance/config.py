"""The workspace folder and its one configuration file, ``countersign.toml``, read once at the edge.

A workspace holds one installation::

    countersign.toml   accounts, environments, roles, policy tiers, signing
    catalog.duckdb     the catalog and the ledger
    cache/             artifacts and datasets fetched from accounts, content-addressed (sha256)
    checkpoints/       signed ledger checkpoints, outside the database
    exports/           PDFs and audit packs
    keys/              signing key and certificate

``load_settings`` turns the file into one validated, frozen :class:`Settings`; everything deeper receives values
from it and never reads the environment itself.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import connectors
from connectors.settings import AccountInfo, ConnectorSettings
from core.errors import ConfigError
from core.files import group_shared, private_mode
from core.structs import FieldError, Invalid, Meta, Record, convert, field, field_names, set_field, to_builtins
from governance.oversight_settings import NotifyConfig, OversightConfig

CONFIG_FILE = "countersign.toml"
ROLES = ("viewer", "data_scientist", "ml_engineer", "risk_officer", "auditor", "admin")
# how a model is classified under the EU AI Act (governance.regimes picks the dated phases that apply to it)
AI_ACT_CLASSES = ("high_risk_annex_iii", "high_risk_product", "limited", "minimal", "out_of_scope")


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace folder."""

    root: Path

    @classmethod
    def of_catalog(cls, catalog_file: Path) -> Workspace | None:
        """The workspace whose catalog file ``catalog_file`` is, by this layout (None for a file named otherwise)."""
        ws = cls(Path(catalog_file).parent)
        return ws if Path(catalog_file).name == ws.catalog_path.name else None

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def exports_dir(self) -> Path:
        return self.root / "exports"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    def ensure_dirs(self) -> None:
        """Create the workspace sub-folders that do not exist yet (checkpoints, exports and keys owner-only)."""
        for d in (self.root, self.cache_dir):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.checkpoints_dir, self.exports_dir, self.keys_dir):
            private_dir(d)


def share_process(workspace: Workspace) -> None:
    """At the edge: on a group-shared workspace the files DuckDB and the CLI create are for the group (umask 007)."""
    if group_shared(workspace.root):
        os.umask(0o007)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) if absent; a folder created here is readable by its owner only (0700),
    or by the group of a group-shared parent (2770, setgid: what is created inside stays the group's).

    An existing folder keeps its mode: an operator who shares it with a group on purpose is not overruled.
    """
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = 0o2770 if group_shared(path.parent) else 0o700
        with contextlib.suppress(FileExistsError):  # another process created it meanwhile
            path.mkdir(mode=0o700)
        with contextlib.suppress(PermissionError):  # created meanwhile by another user of a shared workspace
            os.chmod(path, mode)  # mkdir's mode is filtered by the umask
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open(path, flags | O_CREAT)`` with :func:`private_mode` (a lock file, the signed head), made so even
    under a wider umask when this process created it."""
    mode = private_mode(path.parent)
    fd = os.open(path, flags | os.O_CREAT, mode)
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, mode)
    return fd


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, readable by its owner only (0600, or its group's in a group-shared
    folder) from the first byte on."""
    private_dir(path.parent)
    mode = private_mode(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)  # a stale temporary file from a crash kept its old mode
        os.replace(tmp, path)  # a reader never sees half a file
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def resolve_workspace(arg: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Workspace:
    """``--workspace DIR``, else ``COUNTERSIGN_WORKSPACE``, else ``./workspace``."""
    value = arg or environ.get("COUNTERSIGN_WORKSPACE") or "workspace"
    return Workspace(Path(value).expanduser().resolve())


class EnvironmentsConfig(Record):
    order: tuple[str, ...] = ("dev", "staging", "prod")

    def __post_init__(self) -> None:
        if not self.order:
            raise FieldError("order", "must name at least one environment")
        if len(set(self.order)) != len(self.order):
            raise FieldError("order", f"environments repeat: {list(self.order)}")


class _AccountKeys(Record):
    """The keys every ``[[accounts]]`` table has; the others belong to its connector kind."""

    name: Annotated[str, Meta(min_length=1)]
    environment: str
    connector: str
    # an incremental sync becomes a full one when the last full pass is older than this (0: only on request):
    # what listings cannot show (metadata-only edits, deletions) reaches the catalog within this many hours
    full_sync_every_hours: Annotated[float, Meta(ge=0)] = 24.0


class _Hidden(dict[str, str]):
    """Secret values: kept, never shown (a record's repr lists its fields)."""

    def __repr__(self) -> str:
        return "{…}" if self else "{}"


class AccountConfig(Record):
    """One source account: what every account has, plus its connector's own settings.

    ``name``, ``environment``, ``connector`` and the sync schedule are common; every other key of the
    ``[[accounts]]`` table belongs to the connector kind and is validated by the settings record it registered
    (``connectors.settings_model``), which refuses unknown keys. The validated record is :attr:`settings`. Built by
    :func:`parse_account` from a table of the file.
    """

    name: str
    environment: str
    connector: str
    settings: ConnectorSettings  # the connector kind's own settings record
    full_sync_every_hours: float = 24.0
    secrets: dict[str, str] = field(default_factory=_Hidden)  # filled at the edge by with_secrets

    @property
    def info(self) -> AccountInfo:
        """The neutral account facts a connector is built with (with the secrets its settings name)."""
        return AccountInfo(self.name, self.environment, secrets=dict(self.secrets))

    @property
    def environments(self) -> tuple[str, ...]:
        """Every environment this account holds: its own, then those its registry labels map to."""
        return tuple(dict.fromkeys((self.environment, *self.settings.environments())))

    def label_environment(self, label: str) -> str | None:
        """The environment the registry label ``label`` means in this account (an MLflow alias, a ZenML stage)."""
        return self.settings.label_environment(label)

    def data_hint(self, key: str) -> str | None:
        """How this account's registry names a version's dataset ``key`` (reference, validation, current), if told."""
        return self.settings.data_hint(key)

    def with_secrets(self, environ: Mapping[str, str]) -> AccountConfig:
        """This account with the values of the environment variables its settings name (read at the edge)."""
        self.secrets.clear()
        self.secrets.update({n: environ[n] for n in self.settings.secret_env() if n in environ})
        return self

    @property
    def location(self) -> str | None:
        """Where the account's source is, in one short string (a folder, a region, a server URL)."""
        return self.settings.location()

    def as_record(self) -> dict[str, Any]:
        """The account as the catalog records it (its settings validated, no secret, no empty value)."""
        common = {"name": self.name, "environment": self.environment, "connector": self.connector,
                  "full_sync_every_hours": self.full_sync_every_hours}
        return {**common, **to_builtins(self.settings, exclude_none=True)}


def parse_account(index: int, table: Any) -> AccountConfig:
    """``accounts[index]`` of the file: its common keys, then the rest by its connector's settings record."""
    if not isinstance(table, Mapping):
        raise Invalid(("accounts", index), "expected a table ([[accounts]])")
    common = {k: v for k, v in table.items() if k in field_names(_AccountKeys)}
    try:
        keys = convert(common, _AccountKeys)
    except Invalid as exc:
        raise Invalid(("accounts", index, *exc.loc), exc.problem) from None
    try:
        model = connectors.settings_model(keys.connector)
    except ConfigError as exc:
        raise Invalid(("accounts", index), str(exc)) from None
    rest = {k: v for k, v in table.items() if k not in common}
    try:
        settings = convert(rest, model)
    except Invalid as exc:
        problem = f"a {keys.connector} account needs {exc.key!r}" if exc.problem == "required key is missing" \
            else exc.problem
        raise Invalid(("accounts", index, *exc.loc), problem) from None
    return AccountConfig(name=keys.name, environment=keys.environment, connector=keys.connector, settings=settings,
                         full_sync_every_hours=keys.full_sync_every_hours)


Fraction = Annotated[float, Meta(ge=0, le=1)]
Days = Annotated[int, Meta(ge=1, le=3660)]


class TierPolicy(Record):
    """The rules one risk tier must pass before promotion."""

    approvals_required: Annotated[int, Meta(ge=1, le=10)] = 1
    max_drift_share: Fraction | None = None
    min_disparate_impact: Fraction | None = None
    min_metrics: dict[str, float] = field(default_factory=dict)
    max_metrics: dict[str, float] = field(default_factory=dict)
    required_card_fields: tuple[str, ...] = ()
    evidence_max_age_days: Annotated[int, Meta(ge=1)] | None = None
    # a promotion fails when the copy's (or the version's own) artifact sha256 differs along its lineage
    require_identical_artifact: bool = False
    # environment -> gate names that apply when promoting into it; absent = every gate
    gates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # promotions that may skip environments of [environments] order, as "from->to" ("dev->prod"); such a request
    # needs approvals_required + 1 approvals
    allow_skip: tuple[str, ...] = ()
    # columns whose drift alone fails the drift gate, whatever the drift share
    critical_features: tuple[str, ...] = ()
    # the importance-weighted drift (the share of the model's attribution carried by drifted features) at most this
    max_weighted_drift: Fraction | None = None

    # how the fairness gate names its threshold to people (default: the gate registry's label)
    fairness_label: Annotated[str, Meta(min_length=1)] | None = None
    # ongoing oversight: a deployed version is reviewed again every N days (SR 26-2 ties the frequency to risk);
    # drift and bias are recomputed on the newest monitoring data every M days. None: no cadence.
    review_every_days: Days | None = None
    monitoring_every_days: Days | None = None
    # triggered review: more cumulative change than this since the last full validation (versions promoted into the
    # environment, features added or removed, the training data window moved) starts a re-validation
    max_cumulative_change: Annotated[int, Meta(ge=0, le=1000)] | None = None
    # a fallback executed as an emergency (one approver, at once) is reviewed after the fact within this many days
    fallback_review_days: Annotated[int, Meta(ge=1, le=365)] = 5

    def __post_init__(self) -> None:
        out = []
        for item in self.allow_skip:
            parts = [p.strip() for p in item.split("->")]
            if len(parts) != 2 or not all(parts):
                raise FieldError("allow_skip", f"allow_skip entry {item!r} must read \"FROM->TO\", e.g. \"dev->prod\"")
            out.append("->".join(parts))
        set_field(self, "allow_skip", tuple(out))


class RetentionPolicy(Record):
    """``[policy.retention]``: how long each kind of artefact is kept, in days (EU AI Act Art. 18: documentation
    10 years; Art. 19 and 26(6): logs at least 6 months). Nothing younger than its period can be purged."""

    # reports, audit packs, the ledger and its checkpoints (the record of decisions), model cards: 10 years
    documentation_days: Annotated[int, Meta(ge=1)] = 3653
    # operational logs (sync runs, notification attempts, the data monitoring read): at least 6 months
    logs_days: Annotated[int, Meta(ge=183)] = 183
    evidence_days: Annotated[int, Meta(ge=1)] = 3653  # analytics evidence: cited by reports, kept as long
    cache_days: Annotated[int, Meta(ge=0)] = 30  # fetched copies of artifacts and datasets (fetched again on need)


SEVERITY_DAYS = {"critical": 1, "high": 3, "medium": 10, "low": 30}


class IncidentPolicy(Record):
    """``[policy.incidents]``: internal escalation (PRA SS1/23) per severity, in days after becoming aware."""

    escalation_days: dict[str, int] = field(default_factory=lambda: dict(SEVERITY_DAYS))

    def __post_init__(self) -> None:
        bad = [k for k in self.escalation_days if k not in SEVERITY_DAYS]
        if bad:
            raise FieldError("escalation_days", f"unknown severity {bad[0]!r} (known: {', '.join(SEVERITY_DAYS)})")
        if any(d < 0 for d in self.escalation_days.values()):
            raise FieldError("escalation_days", "escalation days must not be negative")
        set_field(self, "escalation_days", {**SEVERITY_DAYS, **self.escalation_days})


class PolicyConfig(Record):
    default_tier: str = "medium"
    tiers: dict[str, TierPolicy] = field(default_factory=lambda: {"medium": TierPolicy()})
    # the day this policy took effect (a report names the policy in force on its date), and the regimes it applies
    # (ids of governance/data/regimes.toml; governance.regimes says which phase of each is in force on a date)
    effective_from: str | None = None
    regimes: tuple[str, ...] = ("sr-26-2", "eu-ai-act", "pra-ss1-23")
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    incidents: IncidentPolicy = field(default_factory=IncidentPolicy)

    def __post_init__(self) -> None:
        import datetime as _dt

        if self.effective_from is not None:
            try:
                _dt.date.fromisoformat(self.effective_from)
            except ValueError:
                raise FieldError("effective_from", f"{self.effective_from!r} is not a date (YYYY-MM-DD)") from None
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier {self.default_tier!r} is not one of the tiers {sorted(self.tiers)}")


class ModelConfig(Record):
    """Per-model facts the registries may not carry."""

    owner: str | None = None
    risk_tier: str | None = None
    intended_use: str | None = None
    protected_attributes: tuple[str, ...] = ()
    label: str | None = None
    positive_label: str | None = None
    # columns whose drift alone fails the drift gate (added to the tier's critical_features)
    critical_features: tuple[str, ...] = ()
    # inventory fields the 2026 rules name (PRA SS1/23 accountable SMF, SR 26-2 materiality, EU AI Act class)
    accountable_senior_manager: str | None = None
    materiality: str | None = None  # e.g. high | medium | low, as the firm's inventory grades it
    ai_act_classification: str | None = None  # one of AI_ACT_CLASSES
    generative_ai: bool | None = None

    def __post_init__(self) -> None:
        v = self.ai_act_classification
        if v is not None and v not in AI_ACT_CLASSES:
            raise FieldError("ai_act_classification",
                             f"unknown AI Act classification {v!r} (known: {', '.join(AI_ACT_CLASSES)})")


class AuthConfig(Record):
    """How the portal learns who the user is (besides ``st.login``)."""

    trusted_headers: bool = False
    email_header: str = "X-Forwarded-Email"
    groups_header: str | None = None
    groups_claim: str = "groups"
    # the addresses (CIDR) of the proxy that sets the headers: a header from any other peer is refused
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        out = []
        for item in self.trusted_proxies:
            try:
                out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise FieldError("trusted_proxies",
                                 f"{item!r} is not an IP address or CIDR network (e.g. \"10.0.0.5/32\")") from None
        if self.trusted_headers and not out:
            raise FieldError("trusted_proxies",
                             "trusted_headers = true needs trusted_proxies = [\"CIDR\", ...], the addresses of the "
                             "proxy that sets the headers (e.g. [\"10.0.0.5/32\"]); anyone else could send them")
        set_field(self, "trusted_proxies", tuple(out))

    def trusts_peer(self, peer: str | None) -> bool:
        """Whether a connection from ``peer`` (an IP address) may set the identity headers."""
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d
        return any(address in ipaddress.ip_network(n) for n in self.trusted_proxies)


class SigningConfig(Record):
    """Who signs exported reports: people with their own certificate, else the workspace's organisation seal.

    ``key``/``certificate`` are the workspace's own certificate (the seal); ``signer_roles`` sign with their own
    key, found as ``<personal_keys>/<email>.key`` + ``<email>.pem`` (or ``<email>.p12``). Whoever may export but
    does not sign personally gets the seal, whose signature names them, unless ``seal = false``.
    """

    key: str = "keys/signing-key.pem"
    certificate: str = "keys/signing-cert.pem"
    signer_name: str | None = None  # the name on the seal certificate the demo generates
    seal: bool = True
    signer_roles: tuple[str, ...] = ("risk_officer",)
    personal_keys: str = "keys"
    # an RFC 3161 time-stamping service: every signature gets a signature timestamp, and the PDF long-term
    # validation data (certificates, CRLs/OCSP responses) plus a document timestamp (PAdES B-LTA)
    timestamp_url: str | None = None
    # where validation data comes from when signing: fetch CRLs/OCSP from the certificates' URLs (the default), or not
    fetch_validation_data: bool = True
    # CA certificates (PEM, workspace-relative) the TSA chains to, when the signers' own chains do not include it
    timestamp_trust: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        v = self.timestamp_url
        if v is not None:
            from core.credentials import credential_problem

            if not v.startswith(("http://", "https://")):
                raise FieldError("timestamp_url", f"{v!r} is not an http(s) URL of an RFC 3161 time-stamping service")
            problem = credential_problem(v, "give a TSA's credentials to its proxy, never in the URL")
            if problem is not None:
                raise FieldError("timestamp_url", problem)
        bad = [r for r in self.signer_roles if r not in ROLES]
        if bad:
            raise FieldError("signer_roles", f"unknown role {bad[0]!r} (known: {', '.join(ROLES)})")


class LedgerConfig(Record):
    """Where the signed ledger head is mirrored besides ``checkpoints/head.json``."""

    # a folder outside the workspace, ideally on another machine or owned by another account: restoring
    # catalog.duckdb together with checkpoints/ from an older copy is caught only against a head kept elsewhere
    witness: str | None = None


class CatalogConfig(Record):
    """``[catalog]``: where the catalog and ledger live (default: ``catalog.duckdb`` in the workspace)."""

    # postgresql://user@host:port/db for several portal replicas; the password comes from PGPASSWORD or ~/.pgpass
    url: str | None = None

    def __post_init__(self) -> None:
        if self.url is not None:
            from governance.catalog.postgres import url_problem

            problem = url_problem(self.url)
            if problem is not None:
                raise FieldError("url", problem)


class CostsConfig(Record):
    """``[costs]``: instance prices (per instance-hour) that replace or extend the shipped default table."""

    currency: str | None = None
    # instance type -> price per instance-hour; a type named here wins over the shipped table
    training: dict[str, float] = field(default_factory=dict)
    hosting: dict[str, float] = field(default_factory=dict)
    # where the workspace's prices come from (printed with every estimate)
    source: str | None = None
    # true: only the prices above, the shipped table is ignored
    replace_defaults: bool = False

    def __post_init__(self) -> None:
        for name in ("training", "hosting"):
            bad = [k for k, p in getattr(self, name).items() if p < 0]
            if bad:
                raise FieldError(name, f"price of {bad[0]!r} is negative")


class SparkSettings(Record):
    """``[engines.spark]``: where drift and bias aggregates run on Spark (``pip install countersign[spark]``)."""

    master: Annotated[str, Meta(min_length=1)] = "local[2]"  # local[N], spark://host:7077, yarn, k8s://…
    conf: dict[str, str] = field(default_factory=dict)  # extra Spark configuration, e.g. spark.sql.shuffle.partitions


class EnginesConfig(Record):
    """``[engines]``: the analytics engines besides the built-in DuckDB (the default)."""

    default: str = "duckdb"
    spark: SparkSettings | None = None

    def __post_init__(self) -> None:
        if self.default not in self.names:
            raise ValueError(f"engines.default: {self.default!r} is not a configured engine ({', '.join(self.names)})")

    @property
    def names(self) -> tuple[str, ...]:
        """The engines this workspace can run: duckdb, and spark when ``[engines.spark]`` exists."""
        return ("duckdb", "spark") if self.spark is not None else ("duckdb",)


class ListenConfig(Record):
    """``[listen]``: ``countersign listen``, the process that turns registry events into history (docs/events.md)."""

    address: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8765
    # the largest webhook body accepted (MLflow's are a few hundred bytes; anything much bigger is not one)
    max_body_bytes: Annotated[int, Meta(ge=1024, le=16 * 1024 * 1024)] = 65536
    # a delivery signed longer ago (or later) than this is refused: a replay, or a clock to fix
    replay_window_seconds: Annotated[float, Meta(gt=0, le=3600)] = 300.0
    # events are applied in their own time order once they are this old (deliveries may arrive out of order)
    settle_seconds: Annotated[float, Meta(ge=0, le=60)] = 0.3
    # MLflow account -> the environment variable holding its webhook's secret (default COUNTERSIGN_WEBHOOK_SECRET)
    secret_env: dict[str, str] = field(default_factory=dict)
    # the SQS queue an EventBridge rule delivers SageMaker events to, and the SageMaker account whose credentials
    # read it (default: the first SageMaker account)
    queue_url: str | None = None
    queue_account: str | None = None
    wait_seconds: Annotated[int, Meta(ge=0, le=20)] = 20  # SQS long polling

    def secret_variable(self, account: str) -> str:
        """The environment variable holding ``account``'s webhook secret."""
        return self.secret_env.get(account, "COUNTERSIGN_WEBHOOK_SECRET")


class WorkspaceSection(Record):
    name: str = "Countersign"
    demo: bool = False


class Settings(Record):
    """The validated content of ``countersign.toml`` plus the workspace it came from."""

    workspace: WorkspaceSection = field(default_factory=WorkspaceSection)
    environments: EnvironmentsConfig = field(default_factory=EnvironmentsConfig)
    accounts: tuple[AccountConfig, ...] = ()  # built by parse_account, one table at a time
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # operating-system user -> the e-mail the same person signs in with (the CLI then acts under that e-mail)
    os_users: dict[str, str] = field(default_factory=dict)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    auth: AuthConfig = field(default_factory=AuthConfig)
    signing: SigningConfig = field(default_factory=SigningConfig)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    oversight: OversightConfig = field(default_factory=OversightConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    costs: CostsConfig = field(default_factory=CostsConfig)
    engines: EnginesConfig = field(default_factory=EnginesConfig)
    listen: ListenConfig = field(default_factory=ListenConfig)

    def __post_init__(self) -> None:
        self._check_accounts()
        order = self.environments.order
        for who, roles in self.roles.items():
            if who.lower().startswith("os:") and not who[3:].strip():
                raise ValueError(f"roles.{who}: name the operating-system user after 'os:' (e.g. \"os:alice\")")
            bad = [r for r in roles if r not in ROLES]
            if bad:
                raise ValueError(f"roles.{who}: unknown role {bad[0]!r} (known: {', '.join(ROLES)})")
        for name, tier in self.policy.tiers.items():
            for skip in tier.allow_skip:
                src, dst = skip.split("->")
                if src not in order or dst not in order or order.index(dst) <= order.index(src) + 1:
                    raise ValueError(
                        f"policy.tiers.{name}.allow_skip: {skip!r} is not a skip forward along [environments].order "
                        f"{list(order)} (name two environments with at least one between them)"
                    )
        for name, m in self.models.items():
            if m.risk_tier and m.risk_tier not in self.policy.tiers:
                raise ValueError(f"models.{name}.risk_tier: {m.risk_tier!r} is not a policy tier {sorted(self.policy.tiers)}")
        for env in self.oversight.environments:
            if env not in order:
                raise ValueError(f"oversight.environments: {env!r} is not in [environments].order {list(order)}")
        for kind, route in self.notify.routes.items():
            bad = [r for r in route.roles or () if r not in ROLES]
            if bad:
                raise ValueError(f"notify.routes.{kind}.roles: unknown role {bad[0]!r} (known: {', '.join(ROLES)})")

    def _check_accounts(self) -> None:
        seen: set[str] = set()
        order = self.environments.order
        for i, acc in enumerate(self.accounts):
            if acc.name in seen:
                raise ValueError(f"accounts[{i}].name: duplicate account name {acc.name!r}")
            seen.add(acc.name)
            if acc.environment not in order:
                raise ValueError(f"accounts[{i}].environment: {acc.environment!r} is not in [environments].order "
                                 f"{list(order)}")
            unknown = [e for e in acc.environments if e not in order]
            if unknown:
                raise ValueError(
                    f"accounts[{i}]: account {acc.name!r} maps registry labels to {unknown[0]!r}, which is not in "
                    f"[environments].order {list(order)}"
                )

    def account(self, name: str) -> AccountConfig:
        """The account called ``name``."""
        for acc in self.accounts:
            if acc.name == name:
                return acc
        from core.errors import NotFound

        raise NotFound(f"no account named {name!r} in {CONFIG_FILE} (known: {', '.join(a.name for a in self.accounts) or 'none'})")

    def tier(self, name: str | None) -> TierPolicy:
        """The policy of tier ``name`` (the default tier when unknown or empty)."""
        return self.policy.tiers.get(name or "", self.policy.tiers[self.policy.default_tier])

    def person(self, actor: str) -> str:
        """The one person behind an actor as the ledger and four eyes compare them: an ``os:<user>`` mapped in
        ``[os_users]`` is that e-mail, and case never matters. A mapping added later applies to past entries too."""
        who = actor.strip()
        if who.lower().startswith("os:"):
            mapped = {k.lower(): v for k, v in self.os_users.items()}.get(who[3:].lower())
            if mapped:
                who = mapped
        return who.lower()

    def secret_values(self) -> tuple[str, ...]:
        """The values of the secrets the accounts read from the environment: what no message may repeat."""
        return tuple(v for account in self.accounts for v in account.info.secrets.values() if v)

    def roles_for(self, email: str | None, groups: tuple[str, ...] = ()) -> frozenset[str]:
        """Roles granted to an e-mail address and to ``group:NAME`` entries for its groups."""
        out: set[str] = set()
        if email:
            for key, roles in self.roles.items():
                if key.lower() == email.lower():
                    out.update(roles)
        for g in groups:
            out.update(self.roles.get(f"group:{g}", ()))
        return frozenset(out)


def parse_settings(data: Mapping[str, Any], source: str = CONFIG_FILE) -> Settings:
    """Validate a parsed TOML document; raise :class:`ConfigError` naming the file, key and problem."""
    try:
        tables = data.get("accounts", ())
        if not isinstance(tables, list | tuple):
            raise Invalid(("accounts",), "expected a list of tables ([[accounts]])")
        accounts = tuple(parse_account(i, table) for i, table in enumerate(tables))
        return convert({**data, "accounts": accounts}, Settings)
    except Invalid as exc:
        msg = exc.problem + _account_named(data, exc.loc)
        # Errors raised by a whole section's check have no location and name their key in the message.
        raise ConfigError(f"{source}: {exc.key}: {msg}" if exc.key else f"{source}: {msg}") from None


def _account_named(data: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    """`` (account 'lab')`` when ``loc`` points into a named ``[[accounts]]`` table, else nothing."""
    if len(loc) >= 2 and loc[0] == "accounts" and isinstance(loc[1], int):
        accounts = data.get("accounts")
        if isinstance(accounts, list) and loc[1] < len(accounts) and isinstance(accounts[loc[1]], dict):
            name = accounts[loc[1]].get("name")
            if isinstance(name, str) and name:
                return f" (account {name!r})"
    return ""


def load_settings(workspace: Workspace, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate ``countersign.toml`` of ``workspace``.

    ``environ`` (default: the process environment — this is the edge) supplies the secrets that accounts name by
    variable (``token_env``, ``api_key_env``); nothing deeper reads the environment.
    """
    path = workspace.config_path
    if not path.exists():
        raise ConfigError(
            f"{path}: no configuration file. Create one (see README) or run "
            f"'countersign demo --workspace {workspace.root}' for a demo workspace."
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    settings = parse_settings(data, str(path))
    env = os.environ if environ is None else environ
    for account in settings.accounts:
        account.with_secrets(env)
    return settings
