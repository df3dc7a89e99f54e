"""Evidence a pipeline produced itself, imported with its provenance: an Evidently drift report and SHAP values.

A registry connector names them in ``VersionRecord.report_uris`` (ZenML: an artifact whose name says Evidently or
SHAP, or the run metadata ``countersign.reports``). :func:`with_pipeline_evidence` is what
:func:`governance.analytics.evidence.review_version` calls after its own kinds:

- **An Evidently report** (``evidently_report``: Evidently 0.7's ``Snapshot.json()``, also as the JSON string
  ZenML's built-in materializer writes a ``str`` as) becomes evidence of kind ``drift_reported`` — its columns,
  methods, values, thresholds and drift share, marked *reported by the pipeline*. When the version's reference and
  current data (else its validation data) are readable, Countersign recomputes drift on them with the report's own
  methods and thresholds, over the columns the report lists; a column whose verdict differs, or whose value differs
  beyond :data:`TOLERANCE`, is a disagreement, stored with the evidence and shown as a finding. A report is never
  what a drift gate reads: the gate reads the drift Countersign computes (kind ``drift``).
- **SHAP values** (``shap_values``: a table with one column per model feature holding each row's SHAP value, one
  row per row of the version's validation data in its order, a ``base_value`` column, and optionally ``output``,
  the model's output in the explainer's space) become ``explain`` evidence when the model itself is not loaded (a
  pickle). The table is checked for shape against the validation data (same row count, every feature a column of
  it, numbers only, nothing missing); additivity is checked when ``output`` is there, else said to be unchecked.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.canonical import record_hash
from core.errors import CountersignError, InputError, NotFound, UnsafeArtifact
from core.hashing import sha256_file_remembered
from core.progress import ProgressFn
from governance.analytics import drift as drift_mod
from governance.analytics import explain as explain_mod
from governance.analytics.summaries import OtherSummary
from governance.catalog import Catalog, Version
from governance.config import Settings, Workspace
from governance.identity import Identity, require
from governance.sources import connector_for, version_file

PROVENANCE = "reported by the pipeline"
REPORTED_DRIFT = "drift_reported"
# a recomputed value agrees with the reported one within this relative (and 1e-9 absolute) difference: Countersign's
# drift engine reproduces Evidently 0.7 to rounding (tests/governance/test_drift.py)
TOLERANCE = 1e-6
SHAP_BASE, SHAP_OUTPUT = "base_value", "output"


# -- the Evidently report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportedColumn:
    """One column of a reported drift: Evidently's method title, value and threshold, and its verdict."""

    column: str
    method: str  # Evidently's title, e.g. "K-S p_value"
    value: float
    threshold: float
    drifted: bool
    method_name: str | None  # Countersign's name of the same method (None: one Countersign does not compute)


@dataclass(frozen=True)
class ReportedDrift:
    """What an Evidently drift report says."""

    columns: tuple[ReportedColumn, ...]
    drift_share: float | None
    drift_share_threshold: float

    @property
    def drifted_columns(self) -> list[str]:
        """The columns the report calls drifted."""
        return [c.column for c in self.columns if c.drifted]

    @property
    def dataset_drifted(self) -> bool | None:
        """Whether the report calls the dataset drifted (its share against its own threshold)."""
        return None if self.drift_share is None else self.drift_share >= self.drift_share_threshold


def _report_json(path: Path) -> dict[str, Any]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, str):  # a str artifact: ZenML's built-in materializer wrote the JSON text as JSON
            data = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name}: not an Evidently report (not JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
        raise InputError(f"{path.name}: not an Evidently 0.7 report (no 'metrics' list; save Snapshot.json())")
    return data


def read_evidently(path: Path) -> ReportedDrift:
    """The drift an Evidently 0.7 report JSON states: its ``ValueDrift`` and ``DriftedColumnsCount`` metrics."""
    by_title = {m.title: m for m in drift_mod.METHODS}
    columns, share, share_threshold = [], None, 0.5
    for metric in _report_json(path)["metrics"]:
        config = metric.get("config") or {}
        kind = str(config.get("type") or "")
        if kind.endswith("ValueDrift"):
            title, value, threshold = str(config.get("method")), metric.get("value"), config.get("threshold")
            if not isinstance(value, int | float) or not isinstance(threshold, int | float):
                raise InputError(f"{path.name}: drift of column {config.get('column')!r} has no numeric value and "
                                 "threshold")
            known = by_title.get(title)
            drifted = known.drifted(float(value), float(threshold)) if known else float(value) >= float(threshold)
            columns.append(ReportedColumn(str(config.get("column")), title, float(value), float(threshold), drifted,
                                          known.name if known else None))
        elif kind.endswith("DriftedColumnsCount"):
            share = float((metric.get("value") or {}).get("share", math.nan))
            share_threshold = float(config.get("drift_share", 0.5))
    if not columns:
        raise InputError(f"{path.name}: the Evidently report holds no column drift (run DataDriftPreset)")
    return ReportedDrift(tuple(columns), share, share_threshold)


def compare(reported: ReportedDrift, ours: drift_mod.DriftResult) -> list[str]:
    """Where Countersign's recomputation disagrees with the report, one line per column."""
    out = []
    for col in reported.columns:
        try:
            mine = ours.column(col.column)
        except KeyError:
            out.append(f"{col.column}: in the report, not comparable in the data")
            continue
        close = math.isclose(mine.score, col.value, rel_tol=TOLERANCE, abs_tol=1e-9)
        if mine.drifted != col.drifted or not close:
            said = "drifted" if col.drifted else "not drifted"
            found = "drifted" if mine.drifted else "not drifted"
            out.append(f"{col.column}: the pipeline reports {col.method} {col.value:.4g} ({said}), Countersign "
                       f"computes {mine.score:.4g} ({found})")
    return out


def _recompute(reported: ReportedDrift, reference: Path, current: Path,
               progress: ProgressFn) -> drift_mod.DriftResult:
    config = drift_mod.DriftConfig(
        columns=tuple(c.column for c in reported.columns),
        methods={c.column: c.method_name for c in reported.columns if c.method_name},
        thresholds={c.column: c.threshold for c in reported.columns if c.method_name},
        drift_share=min(max(reported.drift_share_threshold, 1e-9), 1.0))
    return drift_mod.drift_files(reference, current, config, progress=progress)


# -- SHAP values ---------------------------------------------------------------------------------------------------


def explain_from_shap(shap_path: Path, validation: Path, groups: list[str],
                      config: explain_mod.ExplainConfig) -> explain_mod.ExplainResult:
    """An explanation from the SHAP values a pipeline logged, checked for shape against the validation data."""
    import numpy as np

    from governance.analytics.io import opened, quote

    started = time.perf_counter()
    with opened(shap=shap_path, data=validation) as (con, infos):
        # the data columns the data contract reads (index columns pandas wrote beside them are none of them)
        shap_df, data = (con.execute(f"SELECT {', '.join(quote(c) for c in infos[t].columns)} FROM {t}").df()
                         for t in ("shap", "data"))
    features = [c for c in shap_df.columns if c not in (SHAP_BASE, SHAP_OUTPUT)]
    _check_shape(shap_df, data, features)
    values = shap_df[features].to_numpy(dtype=float)
    base = shap_df[SHAP_BASE].to_numpy(dtype=float)
    output = shap_df[SHAP_OUTPUT].to_numpy(dtype=float) if SHAP_OUTPUT in shap_df else values.sum(axis=1) + base
    warnings = [] if SHAP_OUTPUT in shap_df else [
        "SHAP values reported by the pipeline: the model was not run here, so additivity is not checked (log an "
        "'output' column, the model's output in the explainer's space, to have it checked)"]
    additivity = float(np.max(np.abs(values.sum(axis=1) + base - output))) if SHAP_OUTPUT in shap_df else math.nan
    mean_abs = np.abs(values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")
    importance = tuple((features[i], float(mean_abs[i])) for i in order)
    group_importance: dict[str, dict[str, dict[str, float]]] = {}
    for attr in (g for g in groups if g in data.columns):
        keys = data[attr].astype("string").fillna("(missing)").to_numpy()
        group_importance[attr] = {str(k): {features[i]: float(np.abs(values[keys == k, i]).mean()) for i in order}
                                  for k in sorted(set(keys))}
    X = data[features].to_numpy(dtype=float)
    row = min(max(config.local_row, 0), len(X) - 1)
    local_rows = tuple({"row": int(p), "values": {n: float(X[p, i]) for i, n in enumerate(features)},
                        "contributions": {n: float(values[p, i]) for i, n in enumerate(features)},
                        "base_value": float(base[p]), "output": float(output[p])}
                       for p in explain_mod.kept_positions(output, row))
    seconds = time.perf_counter() - started
    return explain_mod.ExplainResult(
        explainer=f"SHAP values {PROVENANCE}", output="the pipeline's explainer space", features=tuple(features),
        n_rows=len(values), background_rows=0, importance=importance, group_importance=group_importance,
        local=local_rows[0], additivity_max_error=additivity, seconds=seconds,
        rows_per_second=len(values) / seconds if seconds else 0.0, warnings=tuple(warnings), local_rows=local_rows)


def _check_shape(shap_df: Any, data: Any, features: list[str]) -> None:
    """Refuse SHAP values that do not fit the validation data they claim to explain."""
    if SHAP_BASE not in shap_df.columns:
        raise InputError(f"the SHAP values lack a '{SHAP_BASE}' column (the explainer's expected value per row; "
                         "docs/analytics.md gives the layout)")
    if not features:
        raise InputError("the SHAP values hold no feature column")
    if len(shap_df) != len(data):
        raise InputError(f"the SHAP values have {len(shap_df)} rows, the validation data {len(data)}: they must be "
                         "one row per validation row, in its order")
    unknown = [f for f in features if f not in data.columns]
    if unknown:
        raise InputError(f"SHAP value column(s) {', '.join(unknown)} are no column of the validation data")
    numbers = shap_df[[*features, SHAP_BASE]].apply(lambda s: s.dtype.kind in "fiu")
    if not numbers.all():
        raise InputError(f"SHAP value column(s) {', '.join(numbers[~numbers].index)} are not numeric")
    if shap_df[[*features, SHAP_BASE]].isna().any().any():
        raise InputError("the SHAP values have missing values")
    bad = [f for f in features if data[f].dtype.kind not in "fiub"]
    if bad:
        raise InputError(f"feature(s) {', '.join(bad)} explained by the SHAP values are not numeric in the "
                         "validation data")


# -- review ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Input:
    key: str
    path: Path
    info: dict[str, Any]


def _report_input(workspace: Workspace, settings: Settings, version: Version, key: str) -> _Input:
    uri = version.report_uris[key]
    path = connector_for(workspace, settings, version.account).fetch(uri)
    return _Input(key, path, {"uri": uri, "sha256": sha256_file_remembered(path), "bytes": path.stat().st_size,
                              "path": str(path), "provenance": PROVENANCE})


def _data_input(workspace: Workspace, settings: Settings, version: Version, key: str) -> _Input:
    path = version_file(workspace, settings, version, key)
    return _Input(key, path, {"uri": version.data_uris.get(key), "sha256": sha256_file_remembered(path),
                              "bytes": path.stat().st_size, "path": str(path)})


def with_pipeline_evidence(workspace: Workspace, settings: Settings, catalog: Catalog, version: Version,
                           items: Mapping[str, Any], *, actor: Identity, compute: bool, progress: ProgressFn,
                           current_path: Path | None = None) -> dict[str, Any]:
    """``items`` of a review (kind → ReviewItem) with the evidence the version's pipeline reported: SHAP values
    where Countersign did not explain the model itself (a pickle), and the Evidently report beside drift."""
    from governance.analytics.evidence import ReviewItem

    out = dict(items)
    reports = version.report_uris or {}
    explain = out.get("explain")
    if "shap_values" in reports and explain is not None and (
            explain.status == "missing" or isinstance(explain.error, UnsafeArtifact)):
        out["explain"] = _item(lambda: _shap_item(workspace, settings, catalog, version, actor, compute), "explain",
                               explain)
    if "evidently_report" in reports and "drift" in out and current_path is None:
        fallback = ReviewItem(REPORTED_DRIFT, "missing", message="no report of the pipeline imported yet")
        out[REPORTED_DRIFT] = _item(lambda: _reported_item(workspace, settings, catalog, version, actor, compute,
                                                           progress), REPORTED_DRIFT, fallback)
    return out


def _item(make: Any, kind: str, fallback: Any) -> Any:
    from governance.analytics.evidence import ReviewItem

    try:
        return make() or fallback
    except NotFound as exc:
        return ReviewItem(kind, "missing", message=str(exc), error=exc)
    except CountersignError as exc:
        return ReviewItem(kind, "error", message=str(exc), error=exc)


def _shap_item(workspace: Workspace, settings: Settings, catalog: Catalog, version: Version, actor: Identity,
               compute: bool) -> Any:
    from governance.analytics.evidence import ENGINE_VERSION, ReviewItem, find_evidence, store_evidence

    shap_in = _report_input(workspace, settings, version, "shap_values")
    val_in = _data_input(workspace, settings, version, "validation")
    cfg = settings.models.get(version.model)
    groups = list(cfg.protected_attributes) if cfg else []
    config = explain_mod.ExplainConfig()
    config_doc = {"kind": "explain", "engine": ENGINE_VERSION, "source": "shap values reported by the pipeline",
                  "config": asdict(config), "groups": groups}
    inputs = {"shap_values": shap_in.info, "validation": val_in.info}
    input_hash = record_hash({k: v["sha256"] for k, v in inputs.items()})
    config_hash = record_hash(config_doc)
    found = find_evidence(catalog, "explain", version.version_id, input_hash, config_hash)
    if found is not None:
        return ReviewItem("explain", "cached", found, message=f"SHAP values {PROVENANCE}, stored "
                                                              f"{found.computed_at:%Y-%m-%d %H:%M} UTC")
    if not compute:
        return None
    require(actor, "compute_evidence")
    res = explain_from_shap(shap_in.path, val_in.path, groups, config)
    ev = store_evidence(catalog, kind="explain", version_id=version.version_id, input_hash=input_hash,
                        config_hash=config_hash, result=res.to_dict(), summary=res.summary(),
                        inputs={**inputs, "config": config_doc}, actor=actor)
    return ReviewItem("explain", "computed", ev, message=f"SHAP values {PROVENANCE}, checked against the "
                                                         "validation data (the model was not loaded)")


def _reported_item(workspace: Workspace, settings: Settings, catalog: Catalog, version: Version, actor: Identity,
                   compute: bool, progress: ProgressFn) -> Any:
    from governance.analytics.evidence import ENGINE_VERSION, ReviewItem, latest_evidence, store_evidence

    if not compute:
        found = latest_evidence(catalog, version.version_id, REPORTED_DRIFT)
        if found is None:
            return None
        return ReviewItem(REPORTED_DRIFT, "error" if found.result.get("agrees") is False else "cached", found,
                          message=_verdict(found.result))
    require(actor, "compute_evidence")
    report = _report_input(workspace, settings, version, "evidently_report")
    reported = read_evidently(report.path)
    inputs: dict[str, Any] = {"report": report.info}
    recomputed, disagreements, why_not = None, [], None
    try:
        ref = _data_input(workspace, settings, version, "reference")
        cur = _data_input(workspace, settings, version, "current" if "current" in version.data_uris else "validation")
        recomputed = _recompute(reported, ref.path, cur.path, progress)
        disagreements = compare(reported, recomputed)
        inputs.update(reference=ref.info, current=cur.info)
    except CountersignError as exc:  # the data is not readable: the report stands alone, and says so
        why_not = str(exc)
    config_doc = {"kind": REPORTED_DRIFT, "engine": ENGINE_VERSION, "tolerance": TOLERANCE}
    result = {"provenance": PROVENANCE, "reported": asdict(reported), "drifted_columns": reported.drifted_columns,
              "recomputed": recomputed.to_dict() if recomputed else None,
              "agrees": None if recomputed is None else not disagreements, "disagreements": disagreements,
              "not_recomputed": why_not}
    ev = store_evidence(catalog, kind=REPORTED_DRIFT, version_id=version.version_id,
                        input_hash=record_hash({k: v["sha256"] for k, v in inputs.items()}),
                        config_hash=record_hash(config_doc), result=result, summary=_summary(reported, result),
                        inputs={**inputs, "config": config_doc}, actor=actor)
    status = "computed" if not disagreements else "error"
    return ReviewItem(REPORTED_DRIFT, status, ev, message=_verdict(result))


def _verdict(result: Mapping[str, Any]) -> str:
    """The report and what recomputing it found, in one line."""
    if result.get("agrees") is None:
        return f"{PROVENANCE}; not recomputed: {result.get('not_recomputed')}"
    if result["agrees"]:
        return f"{PROVENANCE}; Countersign's recomputation on the same data agrees"
    return (f"{PROVENANCE}; Countersign's recomputation on the same data DISAGREES: "
            + "; ".join(result.get("disagreements") or ()))


def _summary(reported: ReportedDrift, result: Mapping[str, Any]) -> OtherSummary:
    return OtherSummary(REPORTED_DRIFT, {
        "provenance": PROVENANCE, "drift_share": reported.drift_share, "dataset_drifted": reported.dataset_drifted,
        "drifted_columns": ", ".join(reported.drifted_columns) or "none", "n_columns": len(reported.columns),
        "recomputed": _verdict(result).removeprefix(PROVENANCE + "; ")})
