"""A version's drift, bias and explainability evidence, as the Review page and ``countersign review`` show it.

Opening a review reads what is stored: the evidence the gates read (the newest on the version's registered data,
or what a copy promoted unchanged inherits), by version and kind, from the catalog. No file is fetched to find it:
a connector is reached only to compute (:func:`compute_evidence`, which checks the inputs again and stores what is
new) and, for a kind with nothing stored, to say why (:func:`~governance.analytics.evidence.review_version` without
computing: a missing file, a model without protected attributes). An uploaded sample stands in for the current
data of drift only; its evidence is found by the upload's sha256.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import CountersignError, NotFound
from core.progress import ProgressFn, no_progress
from governance.analytics.summaries import WEIGHT_NOTES
from governance.context import Context
from governance.policy import FOUR_FIFTHS_NOTE
from governance.usecases.selection import Choice, Wanted, choose

if TYPE_CHECKING:
    from governance.analytics.evidence import Evidence, ReviewItem, ReviewResult
    from governance.catalog import Version
    from governance.policy import GateResult

KINDS = ("drift", "bias", "explain")
__all__ = ["FOUR_FIFTHS_NOTE", "KINDS", "WEIGHT_NOTES", "GateView", "ReviewQuery", "ReviewView", "Upload",
           "build_drift_report", "compute_evidence", "open_review", "review_evidence"]


@dataclass(frozen=True)
class Upload:
    """A data file somebody uploaded as the current data of drift."""

    name: str
    data: bytes


@dataclass(frozen=True)
class ReviewQuery:
    """Which version, an optional upload, and the analytics engine picked (None: the workspace default)."""

    version: Wanted = field(default_factory=Wanted)
    upload: Upload | None = None
    engine: str | None = None


@dataclass(frozen=True)
class GateView:
    """A tier gate as a promotion out of the version's environment applies it to the evidence on screen."""

    tier_name: str
    to_env: str
    result: GateResult | None  # None: the tier sets no such gate for that promotion


@dataclass(frozen=True)
class ReviewView:
    """The Review page: the version picked, its evidence and what the tier's drift gates say of it."""

    choice: Choice
    version: Version | None = None
    result: ReviewResult | None = None
    error: CountersignError | None = None  # the evidence could not be read (the page shows why, nothing else)
    current_path: Path | None = None  # the stored upload
    upload_name: str | None = None
    upload_error: CountersignError | None = None
    engines: tuple[str, ...] = ()
    default_engine: str = "duckdb"
    can_compute: bool = False
    drift_gate: GateView | None = None
    weighted_gate: GateView | None = None
    evidently_report: Path | None = None

    @property
    def empty(self) -> bool:
        """Whether the catalog holds no version yet."""
        return not self.choice.options

    def item(self, kind: str) -> ReviewItem:
        """The outcome of one evidence kind."""
        assert self.result is not None
        return self.result.item(kind)

    @property
    def drift_needs_upload(self) -> bool:
        """Computing cannot help drift: the version has reference data but no current data, and nothing was
        uploaded (the page asks for a sample)."""
        item = self.item("drift")
        return (self.current_path is None and isinstance(item.error, NotFound) and self.version is not None
                and "current" not in self.version.data_uris and "reference" in self.version.data_uris)

    @property
    def exploratory(self) -> bool:
        """Whether the drift shown was computed on an uploaded file (a promotion gate ignores it)."""
        from governance.analytics.evidence import from_upload

        ev = self.item("drift").evidence
        return ev is not None and from_upload(ev)

    def for_user(self, text: str) -> str:
        """A message naming the stored upload (cache/uploads/<sha256>.csv) with the file name the user gave."""
        if self.current_path is None or self.upload_name is None:
            return text
        return text.replace(str(self.current_path), self.upload_name).replace(self.current_path.name,
                                                                               self.upload_name)


def open_review(ctx: Context, query: ReviewQuery) -> ReviewView:
    """The Review page's one call: the version picked and its stored evidence (nothing computed, nothing fetched
    for what is stored)."""
    base = _base(ctx, query)
    if base.choice.value is None:
        return base
    version = ctx.catalog.version(base.choice.value)
    try:
        result = _stored_review(ctx, version, base.current_path)
    except CountersignError as exc:
        return _replace(base, version=version, error=exc)
    return _with_gates(ctx, _replace(base, version=version, result=result))


def compute_evidence(ctx: Context, query: ReviewQuery, progress: ProgressFn = no_progress) -> ReviewView:
    """Compute the evidence the version lacks (its inputs read again: new bytes give new evidence) as ``ctx``'s
    identity, then the view of it."""
    from governance.analytics.engines import engine_choice
    from governance.evidence import review_version

    base = _base(ctx, query)
    if base.choice.value is None:
        return base
    version = ctx.catalog.version(base.choice.value)
    engine = engine_choice(ctx.settings.engines, query.engine) if query.engine else None
    try:
        result = review_version(ctx.workspace, ctx.settings, ctx.catalog, version.version_id, actor=ctx.identity,
                                progress=progress, current_path=base.current_path, engine=engine)
    except CountersignError as exc:
        return _replace(base, version=version, error=exc)
    return _with_gates(ctx, _replace(base, version=version, result=result))


def review_evidence(ctx: Context, version_id: str, *, kinds: tuple[str, ...] = KINDS, current: Path | None = None,
                    explain_config: Any = None, progress: ProgressFn = no_progress) -> ReviewResult:
    """``countersign review`` / ``explain``: load the evidence of ``kinds`` and compute what is missing."""
    from governance.evidence import review_version

    return review_version(ctx.workspace, ctx.settings, ctx.catalog, version_id, actor=ctx.identity, kinds=kinds,
                          progress=progress, current_path=current, explain_config=explain_config)


def build_drift_report(ctx: Context, evidence_id: str) -> Path:
    """Evidently's interactive report of a drift evidence row (built once, then read from the cache)."""
    from governance.analytics.evidence import drift_report_html, evidence_by_id

    ev = evidence_by_id(ctx.catalog, evidence_id)
    if ev is None:
        raise NotFound(f"no evidence {evidence_id}")
    return drift_report_html(ctx.workspace, ev)


# -- inside -------------------------------------------------------------------------------------------------------


def _replace(view: ReviewView, **changes: Any) -> ReviewView:
    import dataclasses

    return dataclasses.replace(view, **changes)


def _base(ctx: Context, query: ReviewQuery) -> ReviewView:
    """The picker, the upload and what this person may do: everything but the evidence."""
    from governance.analytics.evidence import save_upload

    ids = tuple(r["version_id"] for r in ctx.catalog.inventory_rows())
    choice = choose(ids, query.version, first=ctx.catalog.first_with_evidence(ids) if ids else None)
    current, upload_error = None, None
    if query.upload is not None:
        try:
            current = save_upload(ctx.workspace, query.upload.name, query.upload.data)
        except CountersignError as exc:
            upload_error = exc
    engines = ctx.settings.engines
    return ReviewView(choice, current_path=current, upload_name=query.upload.name if query.upload else None,
                      upload_error=upload_error, engines=tuple(engines.names), default_engine=engines.default,
                      can_compute=ctx.identity.can("compute_evidence"))


def _stored_review(ctx: Context, version: Version, current: Path | None) -> ReviewResult:
    """The stored evidence of each kind, read by version (and, for an upload, by its sha256); a kind with nothing
    stored is asked of ``review_version`` without computing, which says why."""
    from governance.analytics.evidence import ReviewResult
    from governance.evidence import review_version
    from governance.identity import require

    require(ctx.identity, "view")
    items = {kind: _stored_item(ctx, version, kind, current) for kind in KINDS}
    lacking = tuple(k for k, item in items.items() if item is None)
    if lacking:
        told = review_version(ctx.workspace, ctx.settings, ctx.catalog, version.version_id, actor=ctx.identity,
                              kinds=lacking, current_path=current, compute=False)
        items.update(told.items)
    # what the version's own pipeline reported (an Evidently report beside drift, SHAP values), read, not computed
    from governance.pipeline_evidence import with_pipeline_evidence

    items = with_pipeline_evidence(ctx.workspace, ctx.settings, ctx.catalog, version, items, actor=ctx.identity,
                                   compute=False, progress=no_progress, current_path=current)
    return ReviewResult(version.version_id, {k: items[k] for k in (*KINDS, *(k for k in items if k not in KINDS))})


def _stored_item(ctx: Context, version: Version, kind: str, current: Path | None) -> ReviewItem | None:
    from governance.analytics.evidence import ReviewItem, inherited_evidence, latest_evidence

    traffic = _reads_traffic(kind) and current is not None  # an upload stands in for the kind's new traffic
    if traffic:
        found = _upload_evidence(ctx, version, kind, current)
    else:
        found = latest_evidence(ctx.catalog, version.version_id, kind)
    if found is not None:
        return ReviewItem(kind, "cached", found,
                          message=f"stored {found.computed_at:%Y-%m-%d %H:%M} UTC by {found.computed_by}")
    inherited = None if traffic else inherited_evidence(ctx.catalog, version.version_id, kind)
    if inherited is not None:
        return ReviewItem(kind, "inherited", inherited,
                          message=f"inherited from {inherited.version_id}, which {version.version_id} was promoted "
                                  "from unchanged (same artifact sha256)")
    return None


def _reads_traffic(kind: str) -> bool:
    """Whether the registered ``kind`` reads new traffic (an upload may replace it: drift)."""
    from governance.analytics import kinds as registry

    return registry.kind(kind).current_input is not None


def _upload_evidence(ctx: Context, version: Version, kind: str, current: Path) -> Evidence | None:
    """The newest ``kind`` evidence of ``version`` computed on the uploaded file (found by its sha256)."""
    from core.hashing import sha256_file_remembered
    from governance.analytics.evidence import list_evidence

    digest = sha256_file_remembered(current)
    return next((e for e in list_evidence(ctx.catalog, version.version_id)
                 if e.kind == kind and (e.inputs.get("current") or {}).get("sha256") == digest), None)


def _with_gates(ctx: Context, view: ReviewView) -> ReviewView:
    """The drift and weighted drift gates on the drift evidence shown (one evaluation of the tier's gates), and the
    Evidently report built for it earlier."""
    from governance.analytics.evidence import cached_drift_report

    assert view.result is not None and view.version is not None
    ev = view.result.item("drift").evidence
    if ev is None:
        return view
    tier_name, to_env, results = _gates_on(ctx, view.version, ev)
    return _replace(view, drift_gate=GateView(tier_name, to_env, results.get("drift")),
                    weighted_gate=GateView(tier_name, to_env, results.get("weighted_drift")),
                    evidently_report=cached_drift_report(ctx.workspace, ev))


def _gates_on(ctx: Context, version: Version, shown: Evidence) -> tuple[str, str, dict[str, GateResult]]:
    """The tier's gates for promoting ``version`` into the next environment, reading ``shown`` in place of the stored
    drift evidence (the page shows the verdict on the evidence on screen, e.g. an upload)."""
    from governance.policy import EvidenceRef, catalog_evidence, evaluate, next_environment

    ref = EvidenceRef(shown.evidence_id, "drift", shown.computed_at, shown.summary)
    stored = catalog_evidence(ctx.catalog)
    vid = version.version_id
    to_env = next_environment(ctx.settings, version.environment)
    checklist = evaluate(ctx.catalog, ctx.settings, vid, to_env, now=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                         evidence=lambda v, kind: ref if (v, kind) == (vid, ref.kind) else stored(v, kind))
    return checklist.tier_name, to_env, {r.gate: r for r in checklist.results}
