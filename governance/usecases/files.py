"""Drift and bias of plain files, as ``countersign drift`` and ``countersign bias`` compute them.

These two take no :class:`~governance.context.Context`: they compare files (or, on Spark, Parquet paths and tables)
that belong to no workspace, record nothing and check no role. A workspace, when named, only lends its
``[engines]`` settings (:class:`EngineRequest`). The evidence of a workspace version is ``review_evidence``
(:mod:`governance.usecases.review`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.progress import ProgressFn, no_progress

if TYPE_CHECKING:
    from governance.analytics.bias import BiasConfig, BiasResult
    from governance.analytics.drift import DriftConfig, DriftResult
    from governance.analytics.engines import EngineChoice


@dataclass(frozen=True)
class EngineRequest:
    """Where the aggregates run: ``name`` (None: ``[engines] default`` of ``workspace``, else DuckDB), Spark's
    ``master`` and extra ``conf`` (they win over the workspace's), and the workspace whose settings to read."""

    name: str | None = None
    master: str | None = None
    conf: Mapping[str, str] = field(default_factory=dict)
    workspace: str | None = None


@dataclass(frozen=True)
class FileDriftCommand:
    """Compare ``current`` with ``reference``; ``html``: also write Evidently's report there; ``dialect``: render
    the aggregate statements that ran for it (spark, trino, athena)."""

    reference: str
    current: str
    config: DriftConfig
    engine: EngineRequest = field(default_factory=EngineRequest)
    html: Path | None = None
    dialect: str | None = None


@dataclass(frozen=True)
class FileBiasCommand:
    """Outcome fairness of the scored rows in ``data``; ``dialect`` as for drift."""

    data: str
    config: BiasConfig
    engine: EngineRequest = field(default_factory=EngineRequest)
    dialect: str | None = None


@dataclass(frozen=True)
class FileDriftView:
    """The drift result and, when asked for, its aggregate statements rendered for ``dialect``."""

    result: DriftResult
    dialect: str | None = None
    sql: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``countersign drift --json`` (charts left out; the SQL when asked for)."""
        from core.canonical import json_safe

        doc = json_safe(self.result.to_dict())
        for column in doc["columns"]:
            column.pop("chart", None)
        return doc | _sql_document(self)


@dataclass(frozen=True)
class FileBiasView:
    """The bias result and, when asked for, its aggregate statements rendered for ``dialect``."""

    result: BiasResult
    dialect: str | None = None
    sql: tuple[str, ...] = ()

    @property
    def fails_four_fifths(self) -> bool:
        """Whether an attribute fails the four-fifths rule."""
        return any(not a.four_fifths_pass for a in self.result.attributes)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document of ``countersign bias --json``: per attribute, its groups, parity and Clarify metrics."""
        from core.canonical import json_safe
        from governance.analytics.engines import recorded

        r = self.result
        return json_safe({
            "n": r.n, "dropped_rows": r.dropped_rows, "label": r.label, "positive_label": r.positive_label,
            "prediction": r.prediction, "attributes": {a.attribute: _attribute(a) for a in r.attributes},
            "intersections": {a.attribute: _attribute(a) for a in r.intersections},
            "min_disparate_impact": r.min_disparate_impact, "warnings": list(r.warnings),
            "engine": recorded(r.engine),
        }) | _sql_document(self)


_GROUP_FIELDS = ("n", "selection_rate", "tpr", "fpr", "precision", "accuracy", "base_rate", "selection_rate_ci",
                 "tpr_ci", "fpr_ci", "small")


def _attribute(a: Any) -> dict[str, Any]:
    """One attribute (or intersection) of a bias result, as the JSON document names it."""
    return {
        "groups": {g.group: {k: getattr(g, k) for k in _GROUP_FIELDS} for g in a.groups},
        "demographic_parity_difference": a.demographic_parity_difference,
        "demographic_parity_ratio": a.demographic_parity_ratio,
        "equalized_odds_difference": a.equalized_odds_difference,
        "equal_opportunity_difference": a.equal_opportunity_difference,
        "four_fifths_pass": a.four_fifths_pass,
        "clarify": a.clarify,
    }


def _sql_document(view: FileDriftView | FileBiasView) -> dict[str, Any]:
    return {"sql": {"dialect": view.dialect, "statements": list(view.sql)}} if view.dialect else {}


def engine_of(request: EngineRequest) -> EngineChoice:
    """The engine ``request`` names, with the named workspace's ``[engines]`` settings (flags win over the file)."""
    from governance.analytics.engines import engine_choice
    from governance.config import load_settings, resolve_workspace

    engines = load_settings(resolve_workspace(request.workspace, {})).engines if request.workspace else None
    return engine_choice(engines, request.name, master=request.master, conf=dict(request.conf))


def _source(value: str, engine: EngineChoice) -> Any:
    """A local file for DuckDB; for Spark the text as given (a Parquet path, s3a:// URI or table name)."""
    return Path(value) if engine.name == "duckdb" else value


def _rendered(engine: Mapping[str, Any], dialect: str | None) -> tuple[str, ...]:
    from governance.analytics.engines import render

    return tuple(render(s, dialect) for s in engine.get("statements", ())) if dialect else ()


def drift_of_files(command: FileDriftCommand, progress: ProgressFn = no_progress) -> FileDriftView:
    """``countersign drift``: drift between two files (or Spark tables), Evidently's report written when asked."""
    from governance.analytics.drift import drift_files

    engine = engine_of(command.engine)
    result = drift_files(_source(command.reference, engine), _source(command.current, engine), command.config,
                         progress=progress, engine=engine)
    if command.html is not None:
        from governance.analytics.drift import evidently_report_html

        html = evidently_report_html(Path(command.reference), Path(command.current), result)
        command.html.write_text(html, encoding="utf-8")
    return FileDriftView(result, command.dialect, _rendered(result.engine, command.dialect))


def bias_of_file(command: FileBiasCommand, progress: ProgressFn = no_progress) -> FileBiasView:
    """``countersign bias``: outcome fairness of one file (or Spark table) across protected groups."""
    from governance.analytics.bias import bias_file

    engine = engine_of(command.engine)
    result = bias_file(_source(command.data, engine), command.config, progress=progress, engine=engine)
    return FileBiasView(result, command.dialect, _rendered(result.engine, command.dialect))
