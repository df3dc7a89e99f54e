"""Compare versions across environments: is what runs in prod what was approved in dev?

A model is promoted by copying a version from one account into the next. Three things can silently differ
between the copies: the container (image, digest, framework, environment variables), the inference contract
(content types, instance types) and the artifact itself. :func:`environment_consistency` lines up a version with
every version of its lineage (its sources and the copies made from it), :func:`diff_versions` any two versions,
and :func:`artifact_check` answers the policy gate ``require_identical_artifact``. :func:`compare_runs` puts the
training runs of versions side by side (params, metrics, inputs, durations).

What is read, per registry kind (nothing here knows a connector; it reads the catalog's neutral columns and the
raw record the connector kept):

- the catalog columns ``image``, ``framework``, ``artifact_sha256``, ``artifact_uri``, ``data_uris``;
- a SageMaker model package's ``InferenceSpecification`` (containers' ``Image``, ``ImageDigest``, ``Framework``,
  ``FrameworkVersion``, ``Environment``; ``SupportedContentTypes``, ``SupportedResponseMIMETypes``,
  ``SupportedRealtimeInferenceInstanceTypes``, ``SupportedTransformInstanceTypes``);
- a folder registry's ``metadata.json`` keys ``image``, ``image_digest``, ``framework_version``,
  ``environment_variables`` and ``inference`` (``content_types``, ``response_types``, ``instance_types``,
  ``transform_instance_types``) — see docs/compare.md;
- the model card synced for the version (else for its model in its account).

Data URIs are compared with the account name and version number taken out of the path (each account holds its own
copy of the files, under its own name): ``folder://lab-dev/m/3/reference.parquet`` and
``folder://lab-staging/m/1/reference.parquet`` name the same dataset.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import InputError
from governance.catalog import Catalog, Version

FacetStatus = Literal["same", "differs", "partial", "absent"]
CheckStatus = Literal["pass", "fail", "missing"]

GROUPS = ("Artifact", "Container", "Inference", "Environment variables", "Data", "Model card")
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


@dataclass(frozen=True)
class Side:
    """One version as a column of a comparison."""

    version_id: str
    account: str
    environment: str
    version: int
    source_version_id: str | None
    approval_status: str

    @property
    def label(self) -> str:
        return f"{self.environment} · {self.account} v{self.version}"


@dataclass(frozen=True)
class Facet:
    """One compared property: its value in each version (None: not recorded) and whether they agree.

    ``critical`` facets decide consistency (a differing image digest means a different runtime); the others are
    shown and highlighted but expected to differ between accounts (where the artifact is stored).
    """

    group: str
    name: str
    values: tuple[str | None, ...]
    status: FacetStatus
    critical: bool = True

    @property
    def differs(self) -> bool:
        return self.status == "differs"


@dataclass(frozen=True)
class Consistency:
    """The side-by-side comparison of versions (a lineage, or any two)."""

    subject: str
    sides: tuple[Side, ...]
    facets: tuple[Facet, ...]

    @property
    def differences(self) -> tuple[Facet, ...]:
        return tuple(f for f in self.facets if f.differs)

    @property
    def critical_differences(self) -> tuple[Facet, ...]:
        return tuple(f for f in self.facets if f.differs and f.critical)

    @property
    def consistent(self) -> bool:
        """No critical property differs between the versions (unrecorded ones are not differences)."""
        return not self.critical_differences

    @property
    def comparable(self) -> bool:
        return len(self.sides) > 1

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {
            "subject": self.subject, "consistent": self.consistent,
            "versions": [{"version_id": s.version_id, "account": s.account, "environment": s.environment,
                          "version": s.version, "source_version_id": s.source_version_id,
                          "approval_status": s.approval_status} for s in self.sides],
            "facets": [{"group": f.group, "name": f.name, "status": f.status, "critical": f.critical,
                        "values": dict(zip([s.version_id for s in self.sides], f.values, strict=True))}
                       for f in self.facets],
            "differences": [f"{f.group}: {f.name}" for f in self.differences],
        }


# -- what a version says about its environment -----------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, list | tuple):
        return ", ".join(sorted(str(v) for v in value))
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _containers(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = raw.get("InferenceSpecification")
    if isinstance(spec, dict):
        return [c for c in spec.get("Containers") or [] if isinstance(c, dict)]
    return []


def _card_fields(content: Mapping[str, Any], prefix: str = "") -> dict[str, str | None]:
    """A model card's fields, one level of nesting flattened (``intended_uses.risk_rating``)."""
    out: dict[str, str | None] = {}
    for key, value in content.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not prefix:
            out.update(_card_fields(value, f"{name}."))
        else:
            out[name] = _text(value)
    return out


def _normalised_uri(uri: str, v: Version) -> str:
    """A data URI with the account name and version number segments replaced (each account has its own copy)."""
    parts = uri.split("/")
    return "/".join("{account}" if p == v.account else "{version}" if p == str(v.version) else p for p in parts)


def environment_facts(v: Version, card: Mapping[str, Any] | None = None) -> dict[tuple[str, str], tuple[Any, Any]]:
    """(group, name) → (shown value, compared value) of every property the version records."""
    raw = v.raw if isinstance(v.raw, dict) else {}
    containers = _containers(raw)
    inference = raw.get("inference") if isinstance(raw.get("inference"), dict) else {}
    spec = raw.get("InferenceSpecification") if isinstance(raw.get("InferenceSpecification"), dict) else {}
    out: dict[tuple[str, str], tuple[Any, Any]] = {}

    def put(group: str, name: str, value: Any, compared: Any = None) -> None:
        shown = _text(value)
        if shown is not None:
            out[(group, name)] = (shown, _text(compared) if compared is not None else shown)

    put("Artifact", "sha256", v.artifact_sha256)
    put("Artifact", "location", v.artifact_uri)
    first = containers[0] if containers else {}
    image = v.image or first.get("Image") or raw.get("image")
    put("Container", "image", image)
    digest = first.get("ImageDigest") or raw.get("image_digest")
    if not digest and isinstance(image, str) and (m := _DIGEST.search(image)):
        digest = m.group(1)
    put("Container", "image digest", digest)
    put("Container", "framework", v.framework or first.get("Framework"))
    put("Container", "framework version", first.get("FrameworkVersion") or raw.get("framework_version"))
    for i, c in enumerate(containers[1:], start=2):
        put("Container", f"container {i} image", c.get("Image"))
        put("Container", f"container {i} image digest", c.get("ImageDigest"))
    put("Inference", "content types", spec.get("SupportedContentTypes") or inference.get("content_types"))
    put("Inference", "response types", spec.get("SupportedResponseMIMETypes") or inference.get("response_types"))
    put("Inference", "real-time instance types",
        spec.get("SupportedRealtimeInferenceInstanceTypes") or inference.get("instance_types"))
    put("Inference", "batch instance types",
        spec.get("SupportedTransformInstanceTypes") or inference.get("transform_instance_types"))
    env: dict[str, Any] = {}
    for i, c in enumerate(containers):
        for k, val in (c.get("Environment") or {}).items():
            env[k if i == 0 else f"container {i + 1}: {k}"] = val
    if isinstance(raw.get("environment_variables"), dict):
        env.update(raw["environment_variables"])
    for k, val in env.items():
        put("Environment variables", k, "(empty)" if val == "" else val)
    for key, uri in (v.data_uris or {}).items():
        put("Data", key, uri, _normalised_uri(uri, v))
    if card:
        for name, value in _card_fields(card.get("content") or {}).items():
            put("Model card", name, value)
        put("Model card", "status", card.get("status"))
    return out


# -- comparing ---------------------------------------------------------------------------------------------------


def _side(v: Version) -> Side:
    return Side(v.version_id, v.account, v.environment, v.version, v.source_version_id, v.approval_status)


NON_CRITICAL = {("Artifact", "location")}


def compare_versions(subject: str, versions: Sequence[Version],
                     cards: Sequence[Mapping[str, Any] | None] | None = None) -> Consistency:
    """Line up ``versions`` property by property (pure: no catalog access)."""
    if not versions:
        raise InputError("nothing to compare: no versions given")
    cards = list(cards) if cards is not None else [None] * len(versions)
    facts = [environment_facts(v, c) for v, c in zip(versions, cards, strict=True)]
    keys = sorted({k for f in facts for k in f}, key=lambda k: (GROUPS.index(k[0]), k[1]))
    facets = []
    for key in keys:
        shown = tuple(f[key][0] if key in f else None for f in facts)
        compared = {f[key][1] for f in facts if key in f}
        if len(compared) > 1:
            status: FacetStatus = "differs"
        elif all(s is not None for s in shown):
            status = "same"
        else:
            status = "partial"
        critical = key not in NON_CRITICAL and key[0] != "Model card"
        facets.append(Facet(key[0], key[1], shown, status, critical))
    return Consistency(subject, tuple(_side(v) for v in versions), tuple(facets))


def card_of(catalog: Catalog, v: Version) -> dict[str, Any] | None:
    """The model card synced for the version, else the newest card of its model in its account."""
    return catalog.card_row(v.version_id, v.model, v.account)


def lineage_family(catalog: Catalog, version_id: str, environment_order: Sequence[str] = ()) -> list[Version]:
    """The version, the versions it was promoted from and every copy made from them, in promotion order."""
    chain = catalog.lineage(version_id)
    root = chain[-1]
    ids = {root.version_id, *catalog.descendants(root.version_id)}
    members = [catalog.version(i) for i in sorted(ids)]
    order = list(environment_order)

    def rank(v: Version) -> tuple[Any, ...]:
        env = order.index(v.environment) if v.environment in order else len(order)
        return (env, v.created_at or dt.datetime.min, v.version_id)

    return sorted(members, key=rank)


def environment_consistency(catalog: Catalog, version_id: str, environment_order: Sequence[str] = ()) -> Consistency:
    """The version side by side with every version of its lineage (sources and promoted copies)."""
    members = lineage_family(catalog, version_id, environment_order)
    return compare_versions(version_id, members, [card_of(catalog, v) for v in members])


def diff_versions(catalog: Catalog, first: str, second: str) -> Consistency:
    """Two versions side by side (any two, related or not)."""
    if first == second:
        raise InputError(f"give two different versions to compare (both are {first})")
    a, b = catalog.version(first), catalog.version(second)
    return compare_versions(f"{first} vs {second}", [a, b], [card_of(catalog, a), card_of(catalog, b)])


# -- the policy gate's question ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactCheck:
    """Whether a version carries the same artifact as the versions it came from and the copies made of it."""

    status: CheckStatus
    message: str
    observed: dict[str, str | None]


def artifact_check(catalog: Catalog, version_id: str, to_env: str | None = None) -> ArtifactCheck:
    """The artifact sha256 of ``version_id`` against every source up its lineage and its copies (in ``to_env``).

    ``fail`` when any differs, ``missing`` when a hash is not recorded (a registry that does not hash artifacts:
    compute it with 'countersign diff … --fetch-artifacts' or record it at registration), else ``pass``.
    """
    chain = catalog.lineage(version_id)
    version, sources = chain[0], chain[1:]
    copies = [catalog.version(i) for i in catalog.descendants(version_id)]
    copies = [c for c in copies if c.source_version_id == version_id and (not to_env or c.environment == to_env)]
    related = [*sources, *copies]
    observed = {v.version_id: v.artifact_sha256 for v in (version, *related)}
    if not version.artifact_sha256:
        return ArtifactCheck("missing", f"the artifact sha256 of {version_id} is not recorded", observed)
    differing = [v for v in related if v.artifact_sha256 and v.artifact_sha256 != version.artifact_sha256]
    if differing:
        text = "; ".join(f"{v.version_id} has {v.artifact_sha256[:12]}…" for v in differing)
        return ArtifactCheck("fail", f"artifact differs from {version_id} ({version.artifact_sha256[:12]}…): {text}",
                             observed)
    unknown = [v.version_id for v in related if not v.artifact_sha256]
    if unknown:
        return ArtifactCheck("missing", f"artifact sha256 not recorded for {', '.join(unknown)}", observed)
    if not related:
        return ArtifactCheck("pass", f"{version_id} has no source or copy yet; its artifact is "
                             f"{version.artifact_sha256[:12]}…", observed)
    names = ", ".join(v.version_id for v in related)
    return ArtifactCheck("pass", f"same artifact {version.artifact_sha256[:12]}… as {names}", observed)


# -- training runs side by side ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSide:
    """The training run of one version (None fields: not recorded)."""

    version_id: str
    account: str
    environment: str
    run_id: str | None
    run_name: str | None
    kind: str | None
    status: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunRow:
    """One compared item of the runs: a parameter, metric, input or duration, per version."""

    group: str  # parameter | metric | registered metric | input | run
    name: str
    values: tuple[Any, ...]
    differs: bool


@dataclass(frozen=True)
class RunsComparison:
    """Training runs of several versions side by side."""

    sides: tuple[RunSide, ...]
    rows: tuple[RunRow, ...]

    @property
    def differences(self) -> tuple[RunRow, ...]:
        return tuple(r for r in self.rows if r.differs)

    def metric_records(self) -> list[dict[str, Any]]:
        """Long-form numeric metrics (version, metric, value) for charts."""
        out = []
        for row in self.rows:
            if row.group not in ("metric", "registered metric"):
                continue
            for side, value in zip(self.sides, row.values, strict=True):
                if isinstance(value, int | float):
                    out.append({"version": side.version_id, "environment": side.environment,
                                "metric": row.name, "group": row.group, "value": float(value)})
        return out

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        ids = [s.version_id for s in self.sides]
        return {
            "versions": [{"version_id": s.version_id, "account": s.account, "environment": s.environment,
                          "run_id": s.run_id, "run": s.run_name, "kind": s.kind, "status": s.status,
                          "started_at": s.started_at, "ended_at": s.ended_at,
                          "duration_seconds": s.duration_seconds} for s in self.sides],
            "rows": [{"group": r.group, "name": r.name, "differs": r.differs,
                      "values": dict(zip(ids, r.values, strict=True))} for r in self.rows],
            "differences": [f"{r.group}: {r.name}" for r in self.differences],
        }


def _number(value: Any) -> Any:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    return f if f == f else None


def _rows(group: str, dicts: Sequence[Mapping[str, Any]], *, numeric: bool = False) -> Iterable[RunRow]:
    for name in sorted({k for d in dicts for k in d}):
        values = tuple((_number(d.get(name)) if numeric else d.get(name)) for d in dicts)
        present = [v for v in values if v is not None]
        differs = len(present) != len(values) or len({json.dumps(v, sort_keys=True, default=str) for v in present}) > 1
        yield RunRow(group, name, values, differs)


def compare_runs(catalog: Catalog, version_ids: Sequence[str]) -> RunsComparison:
    """The training runs of ``version_ids`` (at least two) side by side: params, metrics, inputs, duration."""
    ids = list(dict.fromkeys(version_ids))
    if len(ids) < 2:
        raise InputError("compare at least two different versions")
    sides, runs, versions = [], [], []
    for vid in ids:
        v = catalog.version(vid)
        run = catalog.run(v.run_id) if v.run_id else None
        versions.append(v)
        runs.append(run or {})
        sides.append(RunSide(vid, v.account, v.environment, v.run_id, (run or {}).get("name"),
                             (run or {}).get("kind"), (run or {}).get("status"),
                             (run or {}).get("started_at"), (run or {}).get("ended_at")))
    rows: list[RunRow] = []
    durations = tuple(s.duration_seconds for s in sides)
    rows.append(RunRow("run", "run", tuple(s.run_name for s in sides), len({s.run_name for s in sides}) > 1))
    rows.append(RunRow("run", "duration (s)", durations, len(set(durations)) > 1))
    rows.extend(_rows("parameter", [r.get("params") or {} for r in runs]))
    rows.extend(_rows("metric", [r.get("metrics") or {} for r in runs], numeric=True))
    rows.extend(_rows("registered metric", [v.metrics or {} for v in versions], numeric=True))
    rows.extend(_rows("input", [r.get("inputs") or {} for r in runs]))
    return RunsComparison(tuple(sides), tuple(rows))
