"""The evidence service: a version's files fetched through its connector, each evidence kind loaded or computed.

Analytics computes from files it is given (:mod:`governance.analytics`: the registered kinds, their calculations and
the evidence table); this module, above it, is where those files come from. For each requested kind it fetches the
inputs the kind names (or takes an upload in place of the kind's ``current_input``), asks the kind for its plan,
and looks the key (the sha256 of the inputs' content and of the plan) up: stored evidence is returned as it is,
missing evidence is computed with the ``compute_evidence`` permission and stored. One kind failing (missing data,
bad input, no permission) does not stop the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.canonical import record_hash
from core.errors import AccessDenied, CountersignError, InputError, NotFound
from core.hashing import sha256_file_remembered
from core.progress import ProgressFn, no_progress
from governance import pipeline_evidence
from governance.analytics import kinds as registry
from governance.analytics.engines import EngineChoice, recorded
from governance.analytics.evidence import (
    UPLOAD_PREFIX,
    ReviewItem,
    ReviewResult,
    find_evidence,
    inherited_item,
    store_evidence,
)
from governance.analytics.kinds.base import ENGINE_VERSION, EvidenceKind, NotApplicable, PlanInput
from governance.catalog import Catalog, Version
from governance.config import Settings, Workspace
from governance.context import Context
from governance.identity import Identity, require
from governance.sources import version_file

__all__ = ["review", "review_version"]


@dataclass(frozen=True)
class _Ask:
    """One review: where, who, and how (the options of :func:`review_version`)."""

    workspace: Workspace
    settings: Settings
    catalog: Catalog
    actor: Identity
    current_path: Path | None = None
    configs: Mapping[str, Any] = field(default_factory=dict)
    compute: bool = True
    engine: EngineChoice | None = None


def review(ctx: Context, version_id: str, *, kinds: Sequence[str] | None = None, progress: ProgressFn = no_progress,
           current_path: Path | None = None, configs: Mapping[str, Any] | None = None, compute: bool = True,
           engine: EngineChoice | None = None) -> ReviewResult:
    """Load or compute the evidence of one version as ``ctx.identity``.

    Args:
        ctx: the workspace, settings, catalog and who asks ("view" to load, "compute_evidence" to compute).
        version_id: ``account:model:version``.
        kinds: which evidence kinds (default: every registered kind).
        progress: called with a message and a fraction in [0, 1].
        current_path: a local file used in place of the version's monitoring data (an upload; the kinds that
            read new traffic use it).
        configs: a configuration per kind in place of its default (e.g. ``{"explain": ExplainConfig(...)}``).
        compute: when False only stored evidence is loaded; a missing one is reported as ``missing``.
        engine: where the aggregates run (default DuckDB); recorded with the evidence, not part of its key.

    Returns:
        A :class:`~governance.analytics.evidence.ReviewResult`, one item per requested kind.

    Raises:
        NotFound: the version does not exist.
        AccessDenied: the actor may not even view.
        InputError: an unknown kind.
    """
    ask = _Ask(ctx.workspace, ctx.settings, ctx.catalog, ctx.identity, current_path, dict(configs or {}), compute,
               engine)
    return _review(ask, version_id, tuple(registry.names() if kinds is None else kinds), progress)


def review_version(
    workspace: Workspace,
    settings: Settings,
    catalog: Catalog,
    version_id: str,
    *,
    actor: Identity,
    kinds: Sequence[str] | None = None,
    progress: ProgressFn = no_progress,
    current_path: Path | None = None,
    explain_config: Any = None,
    compute: bool = True,
    engine: EngineChoice | None = None,
) -> ReviewResult:
    """Load or compute the evidence of one version (:func:`review` with the workspace, settings and catalog given
    apart, and the explainer's configuration as ``explain_config``)."""
    configs = {} if explain_config is None else {"explain": explain_config}
    ask = _Ask(workspace, settings, catalog, actor, current_path, configs, compute, engine)
    return _review(ask, version_id, tuple(registry.names() if kinds is None else kinds), progress)


def _review(ask: _Ask, version_id: str, kinds: tuple[str, ...], progress: ProgressFn) -> ReviewResult:
    require(ask.actor, "view")
    known = registry.names()
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise InputError(f"unknown evidence kind(s) {', '.join(unknown)} (known: {', '.join(known)})")
    version = ask.catalog.version(version_id)
    items: dict[str, ReviewItem] = {}
    # a kind another one reads goes first (drift weighs each feature by the explain evidence's attribution)
    for i, name in registry.compute_order(kinds):
        lo, hi = i / len(kinds), (i + 1) / len(kinds)

        def sub(message: str, fraction: float, _k: str = name, _lo: float = lo, _hi: float = hi) -> None:
            progress(f"{_k}: {message}", _lo + (_hi - _lo) * max(0.0, min(1.0, fraction)))

        items[name] = _outcome(ask, version, registry.kind(name), sub)
    # what the version's own pipeline reported (SHAP values, an Evidently report), with that provenance
    items = pipeline_evidence.with_pipeline_evidence(
        ask.workspace, ask.settings, ask.catalog, version, items, actor=ask.actor, compute=ask.compute,
        progress=progress, current_path=ask.current_path)
    progress("done", 1.0)
    # the kinds asked for, and the report the pipeline made beside drift
    reported = pipeline_evidence.REPORTED_DRIFT
    shown = [*kinds, *([reported] if reported in items else [])]
    return ReviewResult(version_id=version_id, items={k: items[k] for k in shown})


def _outcome(ask: _Ask, version: Version, kind: EvidenceKind, progress: ProgressFn) -> ReviewItem:
    """The review item of one kind: what :func:`_review_one` found, or why it could not."""
    name = kind.name
    try:
        return _review_one(ask, version, kind, progress)
    except NotApplicable as exc:
        return ReviewItem(name, "not_applicable", message=str(exc))
    except AccessDenied as exc:
        return ReviewItem(name, "denied", message=f"no stored {name} evidence, and {exc}", error=exc)
    except NotFound as exc:
        inherited = inherited_item(ask.catalog, version, name) if ask.current_path is None else None
        return inherited or ReviewItem(name, "missing", message=str(exc), error=exc)
    except CountersignError as exc:
        return ReviewItem(name, "error", message=str(exc), error=exc)


def _file_input(ask: _Ask, version: Version, key: str) -> tuple[Path, dict[str, Any]]:
    path = version_file(ask.workspace, ask.settings, version, key)
    uri = version.artifact_uri if key == "artifact" else version.data_uris.get(key)
    return path, {"uri": uri, "sha256": sha256_file_remembered(path), "bytes": path.stat().st_size, "path": str(path)}


def _upload_input(path: Path) -> tuple[Path, dict[str, Any]]:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return path, {"uri": f"{UPLOAD_PREFIX}{path.name}", "sha256": sha256_file_remembered(path),
                  "bytes": path.stat().st_size, "path": str(path)}


def _inputs(ask: _Ask, version: Version, kind: EvidenceKind) -> tuple[dict[str, Path], dict[str, Any]]:
    """The local files of the kind's inputs and what each is (uri, sha256, size, path)."""
    files: dict[str, Path] = {}
    infos: dict[str, Any] = {}
    for key in kind.inputs:
        if key == kind.current_input and ask.current_path is not None:
            files[key], infos[key] = _upload_input(Path(ask.current_path))
        else:
            files[key], infos[key] = _file_input(ask, version, key)
    return files, infos


def _review_one(ask: _Ask, version: Version, kind: EvidenceKind, progress: ProgressFn) -> ReviewItem:
    name = kind.name
    progress("fetching inputs", 0.02)
    files, inputs = _inputs(ask, version, kind)
    planned = kind.plan(PlanInput(ask.settings, ask.catalog, version, files, ask.configs.get(name)))
    config_doc = {"kind": name, "engine": ENGINE_VERSION, **planned.doc}
    # content only: the same bytes give the same key wherever the files live
    input_hash = record_hash({k: v["sha256"] for k, v in inputs.items()})
    config_hash = record_hash(config_doc)
    found = find_evidence(ask.catalog, name, version.version_id, input_hash, config_hash)
    if found is not None:
        progress("loaded stored evidence", 1.0)
        return ReviewItem(name, "cached", found,
                          message=f"stored {found.computed_at:%Y-%m-%d %H:%M} UTC by {found.computed_by}")
    if not ask.compute:
        # the rule the gates and reports apply: a copy promoted unchanged shows its source's evidence (computing
        # its own evidence on request is still allowed; its own then comes first, for the gates too)
        inherited = inherited_item(ask.catalog, version, name) if ask.current_path is None else None
        return inherited or ReviewItem(name, "missing", message=f"no stored {name} evidence for these inputs yet")
    require(ask.actor, "compute_evidence")
    res = kind.compute(files, planned, progress, ask.engine)
    ran = recorded(getattr(res, "engine", {}))
    ev = store_evidence(ask.catalog, kind=name, version_id=version.version_id, input_hash=input_hash,
                        config_hash=config_hash, result=res.to_dict(), summary=res.summary(),
                        inputs={**inputs, "config": config_doc, **({"engine": ran} if ran else {})}, actor=ask.actor)
    return ReviewItem(name, "computed", ev, message=f"computed in {getattr(res, 'seconds', 0):.1f} s")
