"""What an evidence kind is: one object binding its inputs, typed configuration, calculation, typed result, summary
and report blocks (evidently's shape: a metric with its config, its calculation, its result and its renderer).

The evidence service (:mod:`governance.evidence`) fetches the files a kind names in :attr:`EvidenceKind.inputs`,
asks the kind to :attr:`~EvidenceKind.plan` (configuration, and the document its evidence key hashes), looks the key
up, and only then :attr:`~EvidenceKind.compute`\\ s from the local files; the result is stored with its typed
summary. Policy gates read the summary, the reports the kind's blocks. Nothing here fetches a file or builds a
connector: analytics computes from what it is given.

Kind modules keep heavy imports (DuckDB, numpy, shap) inside their functions: the policy reads summaries through the
registry without loading an engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core.canonical import json_safe
from governance.document import Block, Paragraph, fmt, para

if TYPE_CHECKING:
    from core.progress import ProgressFn
    from governance.analytics.engines import EngineChoice
    from governance.catalog import Catalog, Version
    from governance.config import ModelConfig, Settings

# Bump when a change to the engines changes their numbers: stored evidence then no longer matches the key.
# 2: the data contract (NaN/±inf missing everywhere, failing findings for missing or retyped columns) and the
#    importance-weighted drift.
ENGINE_VERSION = "2"
OUTPUT_COLUMNS = ("prediction", "score")  # model outputs in a data file: never features


class NotApplicable(Exception):
    """The kind does not apply to this version (e.g. no protected attribute configured); the message says why."""


@dataclass(frozen=True)
class PlanInput:
    """What a kind plans from: the settings, the catalog (read only), the version and its fetched input files."""

    settings: Settings
    catalog: Catalog
    version: Version
    files: Mapping[str, Path]
    override: Any = None  # a configuration the caller chose (e.g. the explainer's sample sizes), else the default

    @property
    def model_config(self) -> ModelConfig:
        """``[models.NAME]`` of the version's model (defaults when not configured)."""
        return model_config_of(self.settings, self.version)

    @property
    def label(self) -> str:
        """The label column of the version's data."""
        return label_of(self.settings, self.version)


def model_config_of(settings: Settings, version: Version) -> ModelConfig:
    """``[models.NAME]`` of the version's model (defaults when not configured)."""
    from governance.config import ModelConfig

    return settings.models.get(version.model) or ModelConfig()


def label_of(settings: Settings, version: Version) -> str:
    """The label column: configured, else the registry's ``label`` metadata, else ``label``."""
    return model_config_of(settings, version).label or version.metadata.get("label") or "label"


@dataclass(frozen=True)
class Plan:
    """One computation of a kind: its typed configuration and the document its evidence key hashes (without the
    kind's name and engine version, which the service adds)."""

    config: Any
    doc: dict[str, Any]


class Result(Protocol):
    """What a calculation returns: a typed result that writes its stored form and its summary."""

    def to_dict(self) -> dict[str, Any]: ...

    def summary(self) -> Any: ...


PlanFn = Callable[[PlanInput], Plan]
ComputeFn = Callable[["Mapping[str, Path]", Plan, "ProgressFn", "EngineChoice | None"], Result]


@dataclass(frozen=True)
class EvidenceKind:
    """One registered evidence kind.

    Attributes:
        name: the kind's name, stored in every evidence row (``drift``).
        inputs: the version files its calculation reads (``reference``, ``current``, ``validation``, ``artifact``).
        summary: its typed summary (``from_json``, ``to_json``, ``lines``, ``report_rows``).
        plan: configuration from settings, version and files; raises :class:`NotApplicable` or an ``InputError``.
        compute: the calculation from the local files: ``(files, plan, progress, engine) -> result``.
        result_from_dict: the typed result of a stored ``result`` column.
        inherits: whether a copy promoted unchanged (same artifact sha256) may show its source's evidence: true for
            evidence about the artifact and its validation data, false where each environment has its own data.
        reads: kinds whose stored evidence the plan reads (computed first when asked for together).
        current_input: the input holding new traffic (an upload may replace it; its evidence dates monitoring).
        blocks: the report blocks that show this kind's evidence, by name.
        json_extras: what ``countersign review --json`` prints for this kind beyond its summary, from the stored
            result (None: nothing).
    """

    name: str
    inputs: tuple[str, ...]
    summary: type
    plan: PlanFn
    compute: ComputeFn
    result_from_dict: Callable[[Mapping[str, Any]], Any]
    inherits: bool = False
    reads: tuple[str, ...] = ()
    current_input: str | None = None
    blocks: tuple[tuple[str, Block], ...] = field(default=())
    json_extras: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None


def dataclass_doc(obj: Any) -> dict[str, Any]:
    """A dataclass configuration as JSON-ready data (what the evidence key hashes)."""
    return json_safe(asdict(obj))


# -- what the kinds' report blocks share ---------------------------------------------------------------------------


class EvidenceLike(Protocol):
    """A stored evidence row as the reports see it (``governance.reports.facts.EvidenceItem``)."""

    evidence_id: str
    kind: str
    version_id: str | None
    input_hash: str
    config_hash: str
    computed_at: Any
    computed_by: str | None
    summary: Any
    result: dict[str, Any]


def evidence_caption(item: EvidenceLike, report_version: str | None = None) -> Paragraph:
    """The line citing an evidence row under a table or chart (and where it comes from when inherited)."""
    origin = ""
    if report_version and item.version_id and item.version_id != report_version:
        origin = f" for {item.version_id}, which this version was promoted from (same artifact sha256)"
    return para(
        f"Source: evidence {item.evidence_id} ({item.kind}){origin}, computed {fmt(item.computed_at)} by "
        f"{item.computed_by or 'unknown'}; input hash {item.input_hash[:16]}, config hash {item.config_hash[:16]}.",
        "small",
    )


def records_from(value: Any, key_name: str) -> list[dict[str, Any]]:
    """Rows of a result part stored as a list of records or as a dict keyed by column / attribute / feature."""
    if isinstance(value, list):
        return [v if isinstance(v, dict) else {key_name: v} for v in value]
    if isinstance(value, dict):
        out = []
        for k in sorted(value):
            v = value[k]
            out.append({key_name: k, **v} if isinstance(v, dict) else {key_name: k, "value": v})
        return out
    return []


def first(d: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first of ``keys`` that ``d`` holds (not None), else None."""
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def scalar_rows(pairs: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The pairs whose value prints in one cell."""
    from governance.document import scalar

    return [(k, v) for k, v in pairs if scalar(v)]
