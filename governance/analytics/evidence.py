"""Evidence rows: each analytics result stored once, keyed by the sha256 of its inputs and of its configuration.

Rows (their SQL lives in :mod:`governance.catalog.evidence`) are only ever inserted (``ON CONFLICT DO NOTHING`` on a key
derived from kind, version, input hash and configuration hash), so recomputing never overwrites what is stored,
and the same inputs with the same configuration return the stored row instantly. Each row's summary is read into
its typed record (:mod:`governance.analytics.summaries`). :func:`review_version` is the one
call the Review page, the CLI and the reports make: it loads what exists and computes (with the
``compute_evidence`` permission) only what is missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from core.canonical import canonical_json, json_safe, record_hash
from core.clock import utcnow
from core.errors import AccessDenied, CountersignError, InputError, NotFound
from core.hashing import sha256_file_remembered
from core.progress import ProgressFn, no_progress
from governance.analytics import bias as bias_mod
from governance.analytics import drift as drift_mod
from governance.analytics import explain as explain_mod
from governance.analytics import external
from governance.analytics.engines import EngineChoice, recorded
from governance.analytics.summaries import EvidenceSummary, summary_from_json
from governance.catalog import Catalog, EvidenceRecord, Version
from governance.config import ModelConfig, Settings, Workspace
from governance.identity import Identity, require
from governance.sources import version_file

KINDS = ("drift", "bias", "explain")
# Bump when a change to the engines changes their numbers: stored evidence then no longer matches the key.
# 2: the data contract (NaN/±inf missing everywhere, failing findings for missing or retyped columns) and the
#    importance-weighted drift.
ENGINE_VERSION = "2"
_SOFTWARE = ("countersign", "duckdb", "numpy", "scipy", "pandas", "scikit-learn", "shap", "skops", "xgboost", "sqlglot",
             "pyspark")
_OUTPUT_COLUMNS = ("prediction", "score")


@dataclass(frozen=True)
class Evidence:
    """One stored analytics result, its summary typed by kind."""

    evidence_id: str
    kind: str
    version_id: str | None
    input_hash: str
    config_hash: str
    result: dict[str, Any]
    summary: EvidenceSummary
    software: dict[str, Any]
    computed_at: dt.datetime
    computed_by: str
    inputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, rec: EvidenceRecord) -> Evidence:
        """The evidence of a stored row (its summary JSON read into the kind's summary type)."""
        return cls(evidence_id=rec.evidence_id, kind=rec.kind, version_id=rec.version_id, input_hash=rec.input_hash,
                   config_hash=rec.config_hash, result=rec.result, summary=summary_from_json(rec.kind, rec.summary),
                   software=rec.software, computed_at=rec.computed_at, computed_by=rec.computed_by, inputs=rec.inputs)


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages that compute evidence."""
    out = {"python": platform.python_version(), "engine": ENGINE_VERSION}
    for name in _SOFTWARE:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


_clean = json_safe  # the name this module has always used


def _evidence_id(kind: str, version_id: str | None, input_hash: str, config_hash: str) -> str:
    return "ev-" + record_hash([kind, version_id, input_hash, config_hash])[:24]


def store_evidence(
    catalog: Catalog, *, kind: str, version_id: str | None, input_hash: str, config_hash: str,
    result: Mapping[str, Any], summary: EvidenceSummary, inputs: Mapping[str, Any], actor: Identity,
) -> Evidence:
    """Insert one evidence row (the stored row wins when the same key already exists) and return what is stored."""
    require(actor, "compute_evidence")
    if summary.kind != kind:
        raise InputError(f"a {type(summary).__name__} is not the summary of {kind} evidence")
    eid = _evidence_id(kind, version_id, input_hash, config_hash)
    catalog.insert_evidence(
        evidence_id=eid, kind=kind, version_id=version_id, input_hash=input_hash, config_hash=config_hash,
        result=canonical_json(_clean(dict(result))), summary=canonical_json(_clean(summary.to_json())),
        software=canonical_json(software_versions()), inputs=canonical_json(_clean(dict(inputs))),
        computed_at=utcnow(), computed_by=actor.email,
    )
    found = evidence_by_id(catalog, eid)
    assert found is not None
    return found


def evidence_by_id(catalog: Catalog, evidence_id: str) -> Evidence | None:
    """The evidence row ``evidence_id``, or None."""
    rec = catalog.evidence_record(evidence_id)
    return None if rec is None else Evidence.from_record(rec)


def find_evidence(catalog: Catalog, kind: str, version_id: str | None, input_hash: str, config_hash: str) -> Evidence | None:
    """The stored evidence for exactly these inputs and configuration, or None."""
    return evidence_by_id(catalog, _evidence_id(kind, version_id, input_hash, config_hash))


UPLOAD_PREFIX = "upload:"  # the uri recorded for a data file a user uploaded instead of the version's own


def from_upload(ev: Evidence) -> bool:
    """Whether ``ev`` was computed on a file somebody uploaded (exploratory) rather than the version's registered data."""
    return any(str((v or {}).get("uri", "")).startswith(UPLOAD_PREFIX) for v in ev.inputs.values() if isinstance(v, dict))


def latest_evidence(catalog: Catalog, version_id: str, kind: str, *, include_uploads: bool = False) -> Evidence | None:
    """The newest evidence of ``kind`` for ``version_id``, or None.

    Evidence computed on an uploaded file is exploratory: a hand-picked sample could make a gate pass or fail, so
    policy gates and reports see only evidence on the version's registered data unless ``include_uploads``.
    """
    rec = catalog.latest_evidence_record(version_id, kind,
                                         without_input_uri_prefix=None if include_uploads else UPLOAD_PREFIX)
    return None if rec is None else Evidence.from_record(rec)


# Evidence about the artifact and its validation data holds for a promoted copy carrying the same artifact (sha256);
# drift does not, because every environment has its own monitoring data.
LINEAGE_KINDS = ("bias", "explain")


def evidence_through_lineage(catalog: Catalog, version_id: str, kind: str) -> Evidence | None:
    """The version's own newest evidence, else (bias, explain) that of the source it was promoted from unchanged.

    The one rule for the evidence a promoted copy inherits: the policy gates (Requests, approvals), the Review page
    (:func:`review_version`, status ``inherited``) and the reports all read evidence through it. Inherited evidence
    keeps its own ``version_id`` (the source's), so each of them can say where it came from.
    """
    found = latest_evidence(catalog, version_id, kind)
    if found is not None or kind not in LINEAGE_KINDS:
        return found
    chain = catalog.lineage(version_id)
    for source in chain[1:]:
        if not chain[0].artifact_sha256 or source.artifact_sha256 != chain[0].artifact_sha256:
            break
        found = latest_evidence(catalog, source.version_id, kind)
        if found is not None:
            return found
    return None


def inherited_evidence(catalog: Catalog, version_id: str, kind: str) -> Evidence | None:
    """Evidence :func:`evidence_through_lineage` finds for ``version_id`` on a version it was promoted from, or None
    (none at all, or the version's own)."""
    found = evidence_through_lineage(catalog, version_id, kind)
    return found if found is not None and found.version_id != version_id else None


def _inherited_item(catalog: Catalog, version: Version, kind: str) -> ReviewItem | None:
    found = inherited_evidence(catalog, version.version_id, kind)
    if found is None:
        return None
    return ReviewItem(kind, "inherited", found,
                      message=f"inherited from {found.version_id}, which {version.version_id} was promoted from "
                              "unchanged (same artifact sha256)")


def list_evidence(catalog: Catalog, version_id: str | None = None) -> list[Evidence]:
    """Every evidence row (of one version), newest first."""
    return [Evidence.from_record(r) for r in catalog.evidence_records(version_id)]


# -- review of one version ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """The outcome of one kind of evidence in a review."""

    kind: str
    status: str  # cached | computed | inherited | missing | not_applicable | denied | error
    evidence: Evidence | None = None
    message: str | None = None
    error: CountersignError | None = None

    @property
    def ok(self) -> bool:
        return self.evidence is not None


@dataclass(frozen=True)
class ReviewResult:
    """Evidence of one version: what was loaded, computed, or could not be."""

    version_id: str
    items: dict[str, ReviewItem]

    def item(self, kind: str) -> ReviewItem:
        """The outcome of ``kind`` (``missing`` when it was not asked for)."""
        return self.items.get(kind, ReviewItem(kind, "missing", message=f"{kind} was not requested"))

    @property
    def drift(self) -> drift_mod.DriftResult | None:
        ev = self.item("drift").evidence
        return drift_mod.result_from_dict(ev.result) if ev else None

    @property
    def bias(self) -> bias_mod.BiasResult | None:
        ev = self.item("bias").evidence
        return bias_mod.result_from_dict(ev.result) if ev else None

    @property
    def explain(self) -> explain_mod.ExplainResult | None:
        ev = self.item("explain").evidence
        return explain_mod.result_from_dict(ev.result) if ev else None


def _model_config(settings: Settings, version: Version) -> ModelConfig:
    return settings.models.get(version.model) or ModelConfig()


def _label(settings: Settings, version: Version) -> str:
    return _model_config(settings, version).label or version.metadata.get("label") or "label"


@dataclass(frozen=True)
class FeatureWeights:
    """How much a version's model relies on each feature, and where that comes from (see :func:`drift_weights`)."""

    weights: dict[str, float]
    source: str  # shap | registry | equal
    ref: str | None = None  # the explain evidence the weights are read from


def drift_weights(catalog: Catalog, version: Version) -> FeatureWeights:
    """The weights of ``version``'s features for the importance-weighted drift: mean |SHAP| from its explain evidence
    (its own, or its source's when promoted unchanged); else the registry's feature importances (metadata
    ``feature_importances``: JSON, or ``name=value`` pairs); else equal weights over its ``features``; else none
    (every compared column then weighs the same). The source is recorded and said wherever the figure is shown."""
    found = evidence_through_lineage(catalog, version.version_id, "explain")
    if found is not None:
        shap = {str(x["feature"]): float(x["mean_abs_shap"]) for x in found.result.get("importance") or ()
                if isinstance(x.get("mean_abs_shap"), int | float) and math.isfinite(x["mean_abs_shap"])}
        if sum(shap.values()) > 0:
            return FeatureWeights(shap, "shap", found.evidence_id)
    registry = registry_importances(version.metadata.get("feature_importances"))
    if registry and sum(registry.values()) > 0:
        return FeatureWeights(registry, "registry")
    features = [f for f in str(version.metadata.get("features") or "").split(",") if f]
    return FeatureWeights(dict.fromkeys(features, 1.0), "equal")


def registry_importances(value: Any) -> dict[str, float]:
    """Feature importances as a registry records them: a mapping, its JSON text, or ``name=value,name=value``;
    unreadable entries are left out."""
    import json

    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                return {}
        else:
            value = dict(part.split("=", 1) for part in text.split(",") if part.count("=") == 1)
    out: dict[str, float] = {}
    for name, weight in (value.items() if isinstance(value, Mapping) else ()):
        try:
            number = float(weight)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number) and number >= 0:
            out[str(name).strip()] = number
    return out


def drift_plan(settings: Settings, version: Version, weights: FeatureWeights | None = None) -> drift_mod.DriftConfig:
    """The drift configuration used for ``version``: model outputs and the label are not features; each feature's
    drift weighs what the model relies on it (``weights``, from :func:`drift_weights`)."""
    w = weights or FeatureWeights({}, "equal")
    return drift_mod.DriftConfig(exclude=(_label(settings, version), *_OUTPUT_COLUMNS), weights=dict(w.weights),
                                 weights_source=w.source, weights_ref=w.ref)


def bias_plan(settings: Settings, version: Version, columns: Sequence[str]) -> bias_mod.BiasConfig:
    """The bias configuration of ``version`` from ``[models.NAME]`` and the validation file's columns."""
    cfg = _model_config(settings, version)
    if not cfg.protected_attributes:
        raise _NotApplicable(f"no protected attributes are configured for model {version.model!r} "
                             f"([models.{version.model}] protected_attributes in countersign.toml)")
    if version.metadata.get("task") == "regression":
        raise _NotApplicable(f"{version.model} is a regression model; outcome fairness metrics need a classifier")
    pred = "prediction" if "prediction" in columns else None
    score = None if pred else ("score" if "score" in columns else None)
    if pred is None and score is None:
        raise InputError(f"the validation data of {version.version_id} has neither a 'prediction' nor a 'score' column")
    return bias_mod.BiasConfig(label=_label(settings, version), protected=tuple(cfg.protected_attributes),
                               prediction=pred, score=score, positive_label=cfg.positive_label)


class _NotApplicable(Exception):
    pass


def _file_input(workspace: Workspace, settings: Settings, version: Version, key: str) -> tuple[Path, dict[str, Any]]:
    path = version_file(workspace, settings, version, key)
    uri = version.artifact_uri if key == "artifact" else version.data_uris.get(key)
    return path, {"uri": uri, "sha256": sha256_file_remembered(path), "bytes": path.stat().st_size, "path": str(path)}


def review_version(
    workspace: Workspace,
    settings: Settings,
    catalog: Catalog,
    version_id: str,
    *,
    actor: Identity,
    kinds: Sequence[str] = KINDS,
    progress: ProgressFn = no_progress,
    current_path: Path | None = None,
    explain_config: explain_mod.ExplainConfig | None = None,
    compute: bool = True,
    engine: EngineChoice | None = None,
) -> ReviewResult:
    """Load or compute the drift, bias and explainability evidence of one version.

    Args:
        workspace, settings, catalog: the opened workspace.
        version_id: ``account:model:version``.
        actor: who asks; "view" to load, "compute_evidence" when something must be computed.
        kinds: which evidence kinds (drift: reference vs current; bias: on validation; explain: model on validation).
        progress: called with a message and a fraction in [0, 1].
        current_path: a local file used as current data instead of the version's ``current`` URI (an upload).
        explain_config: sample sizes and time budget of the explainer.
        compute: when False only stored evidence is loaded; a missing one is reported as ``missing``.
        engine: where drift and bias aggregates run (default DuckDB); the evidence row records it and the query
            hash. The engine is not part of the evidence key: every engine returns the same numbers.

    Returns:
        A :class:`ReviewResult`; one kind failing (missing data, bad input, no permission) does not stop the others.

    Raises:
        NotFound: the version does not exist.
        AccessDenied: the actor may not even view.
    """
    require(actor, "view")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise InputError(f"unknown evidence kind(s) {', '.join(unknown)} (known: {', '.join(KINDS)})")
    version = catalog.version(version_id)
    items: dict[str, ReviewItem] = {}
    # explain first: drift weighs each feature by the model's attribution, read from the explain evidence
    for i, kind in sorted(enumerate(kinds), key=lambda x: (x[1] != "explain", x[0])):
        lo, hi = i / len(kinds), (i + 1) / len(kinds)

        def sub(message: str, fraction: float, _k: str = kind, _lo: float = lo, _hi: float = hi) -> None:
            progress(f"{_k}: {message}", _lo + (_hi - _lo) * max(0.0, min(1.0, fraction)))

        try:
            items[kind] = _review_one(workspace, settings, catalog, version, kind, actor, sub, current_path,
                                      explain_config or explain_mod.ExplainConfig(), compute, engine)
        except _NotApplicable as exc:
            items[kind] = ReviewItem(kind, "not_applicable", message=str(exc))
        except AccessDenied as exc:
            items[kind] = ReviewItem(kind, "denied", message=f"no stored {kind} evidence, and {exc}", error=exc)
        except NotFound as exc:
            inherited = _inherited_item(catalog, version, kind) if current_path is None else None
            items[kind] = inherited or ReviewItem(kind, "missing", message=str(exc), error=exc)
        except CountersignError as exc:
            items[kind] = ReviewItem(kind, "error", message=str(exc), error=exc)
    # what the version's own pipeline reported (SHAP values, an Evidently report), with that provenance
    items = external.with_pipeline_evidence(workspace, settings, catalog, version, items, actor=actor,
                                            compute=compute, progress=progress, current_path=current_path)
    progress("done", 1.0)
    # the kinds asked for (not the explain drift weighting read), and the report the pipeline made beside drift
    shown = [*kinds, *([external.REPORTED_DRIFT] if external.REPORTED_DRIFT in items else [])]
    return ReviewResult(version_id=version_id, items={k: items[k] for k in shown})


def _review_one(
    workspace: Workspace, settings: Settings, catalog: Catalog, version: Version, kind: str, actor: Identity,
    progress: ProgressFn, current_path: Path | None, explain_config: explain_mod.ExplainConfig, compute: bool,
    engine: EngineChoice | None = None,
) -> ReviewItem:
    from governance.analytics.io import opened

    progress("fetching inputs", 0.02)
    if kind == "drift":
        ref, ref_info = _file_input(workspace, settings, version, "reference")
        if current_path is not None:
            cur = Path(current_path)
            if not cur.exists():
                raise InputError(f"{cur}: no such file")
            cur_info = {"uri": f"{UPLOAD_PREFIX}{cur.name}", "sha256": sha256_file_remembered(cur), "bytes": cur.stat().st_size,
                        "path": str(cur)}
        else:
            cur, cur_info = _file_input(workspace, settings, version, "current")
        config = drift_plan(settings, version, drift_weights(catalog, version))
        inputs = {"reference": ref_info, "current": cur_info}
        config_doc = {"kind": kind, "engine": ENGINE_VERSION, "config": config.as_dict()}
    elif kind == "bias":
        val, val_info = _file_input(workspace, settings, version, "validation")
        with opened(data=val) as (_, infos):
            columns = list(infos["data"].columns)
        config = bias_plan(settings, version, columns)
        inputs = {"validation": val_info}
        config_doc = {"kind": kind, "engine": ENGINE_VERSION, "config": _dataclass_doc(config)}
    else:
        art, art_info = _file_input(workspace, settings, version, "artifact")
        val, val_info = _file_input(workspace, settings, version, "validation")
        inputs = {"artifact": art_info, "validation": val_info}
        features = [f for f in (version.metadata.get("features") or "").split(",") if f]
        config = explain_config
        config_doc = {"kind": kind, "engine": ENGINE_VERSION, "config": _dataclass_doc(config), "features": features,
                      "groups": list(_model_config(settings, version).protected_attributes)}

    # content only: the same bytes give the same key wherever the files live
    input_hash = record_hash({k: v["sha256"] for k, v in inputs.items()})
    config_hash = record_hash(config_doc)
    found = find_evidence(catalog, kind, version.version_id, input_hash, config_hash)
    if found is not None:
        progress("loaded stored evidence", 1.0)
        return ReviewItem(kind, "cached", found,
                          message=f"stored {found.computed_at:%Y-%m-%d %H:%M} UTC by {found.computed_by}")
    if not compute:
        # the rule the gates and reports apply: a copy promoted unchanged shows its source's evidence (computing
        # its own evidence on request is still allowed; its own then comes first, for the gates too)
        inherited = _inherited_item(catalog, version, kind) if current_path is None else None
        return inherited or ReviewItem(kind, "missing", message=f"no stored {kind} evidence for these inputs yet")
    require(actor, "compute_evidence")

    if kind == "drift":
        res: Any = drift_mod.drift_files(ref, cur, config, progress=progress, engine=engine)
    elif kind == "bias":
        res = bias_mod.bias_file(val, config, progress=progress, engine=engine)
    else:
        res = _explain_version(art, val, features, list(config_doc["groups"]), config, progress)
    ran = recorded(getattr(res, "engine", {}))
    ev = store_evidence(catalog, kind=kind, version_id=version.version_id, input_hash=input_hash,
                        config_hash=config_hash, result=res.to_dict(), summary=res.summary(),
                        inputs={**inputs, "config": config_doc, **({"engine": ran} if ran else {})}, actor=actor)
    return ReviewItem(kind, "computed", ev, message=f"computed in {getattr(res, 'seconds', 0):.1f} s")


def _dataclass_doc(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return _clean(asdict(obj))


def _explain_version(
    artifact: Path, validation: Path, features: list[str], groups: list[str],
    config: explain_mod.ExplainConfig, progress: ProgressFn,
) -> explain_mod.ExplainResult:
    from governance.analytics.artifacts import load_model
    from governance.analytics.io import opened, quote

    loaded = load_model(artifact)
    with opened(data=validation) as (con, infos):
        info = infos["data"]
        if not features:
            features = list(loaded.feature_names or [])
        if not features:
            skip = {"label", *_OUTPUT_COLUMNS, *groups}
            features = [c for c in info.columns if c not in skip and info.is_numeric(c)]
        cols = list(dict.fromkeys([*features, *(g for g in groups if g in info.columns)]))
        missing = [c for c in features if c not in info.columns]
        if missing:
            raise InputError(f"the validation data lacks model feature(s) {', '.join(missing)}")
        # order by a hash of the row number: a deterministic sample that does not depend on thread scheduling
        limit = max(config.max_rows, config.background_rows) * 2
        frame = con.execute(
            f"SELECT {', '.join(quote(c) for c in cols)} FROM (SELECT *, row_number() OVER () AS rn FROM data) "
            f"ORDER BY hash(rn + {int(config.seed)}) LIMIT {int(limit)}"
        ).df()
    present = [g for g in groups if g in frame.columns]
    return explain_mod.explain_model(loaded, frame, features, groups=frame[present] if present else None,
                                     config=config, progress=progress)


def save_upload(workspace: Workspace, filename: str, data: bytes) -> Path:
    """Store an uploaded data file in the workspace cache (content-addressed) and return its path."""
    from governance.analytics.io import file_format

    suffix = "".join(Path(filename).suffixes[-2:]) or ".csv"
    file_format(Path(f"x{suffix}"))  # refuse unsupported types before writing anything
    if not data:
        raise InputError(f"{filename}: the uploaded file is empty")
    digest = hashlib.sha256(data).hexdigest()
    folder = workspace.cache_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}{suffix.lower()}"
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def _report_path(workspace: Workspace, evidence: Evidence) -> Path:
    return workspace.cache_dir / "reports" / f"{evidence.evidence_id}-evidently.html"


def cached_drift_report(workspace: Workspace, evidence: Evidence) -> Path | None:
    """The Evidently report already built for a drift evidence row, or None."""
    path = _report_path(workspace, evidence)
    return path if path.exists() else None


def drift_report_html(workspace: Workspace, evidence: Evidence, *, max_rows: int = 100_000) -> Path:
    """Evidently's interactive drift report for a drift evidence row (≤ ``max_rows`` per side), cached by evidence id."""
    if evidence.kind != "drift":
        raise InputError(f"{evidence.evidence_id} is {evidence.kind} evidence, not drift")
    out = _report_path(workspace, evidence)
    if out.exists():
        return out
    paths = []
    for side in ("reference", "current"):
        info = evidence.inputs.get(side) or {}
        path = _locate(workspace, info)
        if path is None:
            raise NotFound(f"the {side} file of {evidence.evidence_id} ({info.get('uri')}) is no longer available")
        paths.append(path)
    html = drift_mod.evidently_report_html(paths[0], paths[1], drift_mod.result_from_dict(evidence.result),
                                           max_rows=max_rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def _locate(workspace: Workspace, info: Mapping[str, Any]) -> Path | None:
    """A local file with the recorded sha256: an upload in the cache, or the version's file via its URI."""
    digest = info.get("sha256")
    if not digest:
        return None
    recorded = Path(str(info.get("path") or ""))
    if info.get("path") and recorded.is_file() and sha256_file_remembered(recorded) == digest:
        return recorded
    for candidate in sorted((workspace.cache_dir / "uploads").glob(f"{digest}*")):
        if not candidate.name.endswith(".part"):
            return candidate
    return None
