"""Evidence rows: each analytics result stored once, keyed by the sha256 of its inputs and of its configuration.

Rows (their SQL lives in :mod:`governance.catalog.evidence`) are only ever inserted (``ON CONFLICT DO NOTHING`` on a key
derived from kind, version, input hash and configuration hash), so recomputing never overwrites what is stored,
and the same inputs with the same configuration return the stored row instantly. Each row's summary is read into
the typed summary its kind registered (:mod:`governance.analytics.kinds`).

This module reads and writes the table and says what a review found (:class:`ReviewResult`); it fetches no file.
:func:`governance.evidence.review_version` — the one call the Review page, the CLI and the reports make — fetches a
version's files through its connector and loads or computes each kind, from above analytics (the import contract
"analytics computes from what it is given" keeps it so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from core.canonical import canonical_json, json_safe, record_hash
from core.clock import utcnow
from core.errors import CountersignError, InputError
from governance.analytics import kinds as registry
from governance.analytics.kinds.base import ENGINE_VERSION
from governance.analytics.kinds.bias import bias_plan
from governance.analytics.kinds.drift import (
    FeatureWeights,
    cached_drift_report,
    drift_plan,
    drift_report_html,
    drift_weights,
    registry_importances,
)
from governance.analytics.kinds.explain import explain_files as _explain_version
from governance.analytics.summaries import EvidenceSummary, summary_from_json
from governance.catalog import Catalog, EvidenceRecord, Version
from governance.config import Workspace
from governance.identity import Identity, require

__all__ = [
    "ENGINE_VERSION",
    "UPLOAD_PREFIX",
    "Evidence",
    "FeatureWeights",
    "ReviewItem",
    "ReviewResult",
    "_explain_version",
    "bias_plan",
    "cached_drift_report",
    "drift_plan",
    "drift_report_html",
    "drift_weights",
    "evidence_by_id",
    "evidence_through_lineage",
    "find_evidence",
    "from_upload",
    "inherited_evidence",
    "latest_evidence",
    "list_evidence",
    "registry_importances",
    "save_upload",
    "software_versions",
    "store_evidence",
]

_SOFTWARE = ("countersign", "duckdb", "numpy", "scipy", "pandas", "scikit-learn", "shap", "skops", "xgboost", "sqlglot",
             "pyspark")


def __getattr__(name: str) -> Any:
    # the registered kinds as they are now (a plugin may have added one): the names this module has always exported
    if name == "KINDS":
        return registry.names()
    if name == "LINEAGE_KINDS":
        return registry.inherited()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        result=canonical_json(json_safe(dict(result))), summary=canonical_json(json_safe(summary.to_json())),
        software=canonical_json(software_versions()), inputs=canonical_json(json_safe(dict(inputs))),
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


def evidence_through_lineage(catalog: Catalog, version_id: str, kind: str) -> Evidence | None:
    """The version's own newest evidence, else (for a kind registered with ``inherits``: evidence about the artifact
    and its validation data, such as bias and explain) that of the source it was promoted from unchanged.

    The one rule for the evidence a promoted copy inherits: the policy gates (Requests, approvals), the Review page
    (:func:`review_version`, status ``inherited``) and the reports all read evidence through it. Inherited evidence
    keeps its own ``version_id`` (the source's), so each of them can say where it came from.
    """
    found = latest_evidence(catalog, version_id, kind)
    if found is not None or kind not in registry.REGISTRY or not registry.kind(kind).inherits:
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


def inherited_item(catalog: Catalog, version: Version, kind: str) -> ReviewItem | None:
    """The review outcome ``inherited`` for evidence of ``kind`` a version was promoted from unchanged, or None."""
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

    def result(self, kind: str) -> Any:
        """The typed result of ``kind`` (its registered ``result_from_dict``), or None when it has no evidence."""
        ev = self.item(kind).evidence
        return registry.kind(kind).result_from_dict(ev.result) if ev else None

    @property
    def drift(self) -> Any:
        """The typed drift result (``DriftResult``), or None."""
        return self.result("drift")

    @property
    def bias(self) -> Any:
        """The typed bias result (``BiasResult``), or None."""
        return self.result("bias")

    @property
    def explain(self) -> Any:
        """The typed explanation (``ExplainResult``), or None."""
        return self.result("explain")


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
