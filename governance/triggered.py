"""Triggered reviews: a re-validation that an event starts, not the calendar.

SR 26-2 and PRA SS1/23 (sub-principle 4.5) ask for revalidation when monitoring shows a model no longer performs as
validated, or when it has changed materially, besides the periodic cadence. Here two things start one:

- a **monitoring breach**: scheduled monitoring (:func:`governance.oversight.monitor`) recomputes the evidence the
  monitoring gates read on the newest data, and a failing monitoring gate of the version's tier (one registered
  with ``monitoring=True`` in :mod:`governance.gates`: drift, weighted drift, fairness) is a breach. One trigger per breach (version, gate, the evidence it failed on): the same evidence never triggers
  twice, new evidence that fails again does.
- **cumulative change since the last full validation** (:func:`cumulative_change`): versions promoted into the
  environment since then, features added or removed, and the training data window moved, counted against the
  tier's ``max_cumulative_change``. One trigger per validation baseline.

A trigger is recorded in ``triggered_reviews`` and in the ledger (``review.triggered``, subject ``version:ID``) in
one transaction, and stays **open** until a periodic review of its version is recorded after it: that review is
the re-validation. The Oversight page lists open triggers apart from the calendar, ``countersign due`` and
``countersign monitor`` print them, and :mod:`governance.notify` tells owners and risk officers once per trigger.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.canonical import canonical_json
from core.errors import CountersignError
from governance import ledger
from governance.catalog import Catalog, InventoryFilter, Version
from governance.config import Settings, Workspace
from governance.context import Context
from governance.identity import require
from governance.ledger.subjects import version_subject

KINDS = ("gate_breach", "cumulative_change")


@dataclass(frozen=True)
class TriggeredReview:
    """A re-validation a breach or cumulative change started; ``open`` until a periodic review follows it."""

    trigger_id: str
    version_id: str
    model: str
    kind: str  # gate_breach | cumulative_change
    gate: str | None
    reason: str
    figure: float | None
    threshold: float | None
    columns: tuple[str, ...]
    evidence: tuple[str, ...]
    breach_key: str
    triggered_at: dt.datetime
    triggered_by: str
    ledger_hash: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def triggered_reviews(catalog: Catalog, *, version_id: str | None = None) -> list[TriggeredReview]:
    """Every triggered review (of one version), newest first."""
    return [TriggeredReview(**r) for r in catalog.triggered_reviews(version_id=version_id)]


def open_triggers(catalog: Catalog, last_reviewed: Mapping[str, dt.datetime]) -> dict[str, tuple[TriggeredReview, ...]]:
    """The triggers of each version not yet answered by a periodic review (``last_reviewed``: version → when its
    newest periodic review was recorded), oldest first."""
    out: dict[str, list[TriggeredReview]] = {}
    for t in reversed(triggered_reviews(catalog)):
        seen = last_reviewed.get(t.version_id)
        if seen is None or t.triggered_at > seen:
            out.setdefault(t.version_id, []).append(t)
    return {k: tuple(v) for k, v in out.items()}


# -- what triggers ------------------------------------------------------------------------------------------------


def breach_from(result: Any, summary: Any) -> dict[str, Any]:
    """A failing gate result as a breach: the gate's record plus the ``columns`` it is about and its ``figure``
    (what the gate's registered ``findings`` say; none for a gate without)."""
    from governance.gates import REGISTRY

    found = REGISTRY.get(result.gate)
    columns, figure = found.findings(result, summary) if found is not None and found.findings else ([], None)
    return {**result.as_dict(), "columns": columns, "figure": figure}


@dataclass(frozen=True)
class ChangeCount:
    """Cumulative change of the version in use since the last full validation of its model in its environment."""

    version_id: str
    baseline: str  # what the count starts from, in words
    baseline_at: dt.datetime | None
    validated_version: str | None
    versions_promoted: tuple[str, ...] = ()
    features_added: tuple[str, ...] = ()
    features_removed: tuple[str, ...] = ()
    data_window_moved: bool | None = None  # None: not measurable (a reference file missing)

    @property
    def total(self) -> int:
        """Each promoted version, each added or removed feature and a moved data window count one."""
        return (len(self.versions_promoted) + len(self.features_added) + len(self.features_removed)
                + int(bool(self.data_window_moved)))

    def describe(self) -> str:
        """The count in words: ``3 changes since … : 1 version promoted (…), 1 feature added (…), data window moved``."""
        parts = []
        if self.versions_promoted:
            parts.append(f"{len(self.versions_promoted)} version(s) promoted ({', '.join(self.versions_promoted)})")
        if self.features_added:
            parts.append(f"feature(s) added: {', '.join(self.features_added)}")
        if self.features_removed:
            parts.append(f"feature(s) removed: {', '.join(self.features_removed)}")
        if self.data_window_moved:
            parts.append("training data window moved")
        elif self.data_window_moved is None:
            parts.append("data window not measurable (a reference file is missing)")
        return f"{self.total} change(s) since {self.baseline}" + (f": {'; '.join(parts)}" if parts else "")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "total": self.total}


def _features(version: Version) -> list[str]:
    return [f for f in str(version.metadata.get("features") or "").split(",") if f]


def _baseline(settings: Settings, catalog: Catalog, version: Version) -> tuple[Version, dt.datetime | None, str]:
    """The last full validation of ``version``'s model in its environment: the newest periodic review of one of its
    versions there, else the first version that came there (validated when it was promoted)."""
    in_env = {r.version_id for r in catalog.inventory(InventoryFilter(model=version.model)).itertuples()
              if r.environment == version.environment}
    for review in catalog.periodic_reviews(model=version.model):
        if review["version_id"] in in_env:
            return (catalog.version(review["version_id"]), review["reviewed_at"],
                    f"periodic review {review['review_id']} of {review['version_id']} on {review['reviewed_at']:%Y-%m-%d}")
    first = min((catalog.version(v) for v in in_env), key=lambda v: (v.created_at or dt.datetime.min, v.version))
    return first, first.created_at, f"{first.version_id} came to {version.environment} (its validation)"


def cumulative_change(ctx: Context, version_id: str) -> ChangeCount:
    """Count the change since the last full validation: versions of the model that came into the environment since
    (the version in use among them), features added or removed against the validated version, and whether the
    training (reference) data differs from the validated version's (by sha256 of the files)."""
    workspace, settings, catalog = ctx.workspace, ctx.settings, ctx.catalog
    version = catalog.version(version_id)
    validated, since, words = _baseline(settings, catalog, version)
    newer = sorted(r.version_id for r in catalog.inventory(InventoryFilter(model=version.model)).itertuples()
                   if r.environment == version.environment and r.version_id != validated.version_id
                   and since is not None and _created(r) is not None and _created(r) > since)
    now_f, then_f = _features(version), _features(validated)
    moved: bool | None = False
    if validated.version_id != version.version_id:
        moved = _data_moved(workspace, settings, version, validated)
    return ChangeCount(version_id, words, since, validated.version_id, tuple(newer),
                       tuple(f for f in now_f if f not in then_f), tuple(f for f in then_f if f not in now_f), moved)


def _created(row: Any) -> dt.datetime | None:
    value = row.created_at.to_pydatetime() if hasattr(row.created_at, "to_pydatetime") else row.created_at
    return None if value is None or value != value else value  # NaT


def _data_moved(workspace: Workspace, settings: Settings, version: Version, validated: Version) -> bool | None:
    from core.hashing import sha256_file_remembered
    from governance.sources import version_file

    try:
        digests = {sha256_file_remembered(version_file(workspace, settings, v, "reference")) for v in (version, validated)}
    except CountersignError:
        return None
    return len(digests) > 1


# -- recording ----------------------------------------------------------------------------------------------------


def _trigger_id(breach_key: str) -> str:
    return "TRG-" + hashlib.sha256(breach_key.encode()).hexdigest()[:16]


def breach_trigger(version: Version, breach: Mapping[str, Any]) -> dict[str, Any]:
    """The row of the trigger a breach starts (its key names the version, the gate and the evidence)."""
    ids = sorted(str(e["evidence_id"]) for e in breach.get("evidence", ()))
    key = f"gate_breach:{version.version_id}:{breach['gate']}:{'+'.join(ids)}"
    return {"trigger_id": _trigger_id(key), "version_id": version.version_id, "model": version.model,
            "kind": "gate_breach", "gate": breach["gate"], "reason": breach["message"],
            "figure": _number(breach.get("figure")), "threshold": _number(breach.get("threshold")),
            "columns": list(breach.get("columns") or ()), "evidence": ids, "breach_key": key}


def change_trigger(version: Version, change: ChangeCount, ceiling: int) -> dict[str, Any]:
    """The row of the trigger cumulative change above ``ceiling`` starts (one per validation baseline)."""
    key = f"cumulative_change:{version.version_id}:{change.validated_version}:{change.baseline_at}"
    return {"trigger_id": _trigger_id(key), "version_id": version.version_id, "model": version.model,
            "kind": "cumulative_change", "gate": None,
            "reason": f"{change.describe()}; tier ceiling max_cumulative_change = {ceiling}",
            "figure": float(change.total), "threshold": float(ceiling),
            "columns": [*change.features_added, *change.features_removed], "evidence": [], "breach_key": key}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def record_triggers(ctx: Context, rows: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[TriggeredReview]:
    """Record the triggers of ``rows`` not recorded yet as ``ctx``'s identity, each with its ledger entry, in one
    transaction; return every trigger of ``rows`` as stored (new and earlier ones alike)."""
    workspace, catalog, actor = ctx.workspace, ctx.catalog, ctx.identity
    require(actor, "compute_evidence")
    wrote = False
    with catalog.transaction() as con:
        for row in rows:
            if catalog.trigger_exists(con, row["trigger_id"]):
                continue
            entry = ledger.append(con, actor=actor.email, action="review.triggered", subject=version_subject(row["version_id"]),
                                  at=now, payload={k: row[k] for k in ("trigger_id", "kind", "gate", "reason", "figure",
                                                                       "threshold", "columns", "evidence")})
            catalog.insert_triggered_review(con, {**row, "columns": canonical_json(list(row["columns"])),
                                                  "evidence": canonical_json(list(row["evidence"])),
                                                  "triggered_at": now, "triggered_by": actor.email,
                                                  "ledger_hash": entry.hash})
            wrote = True
    if wrote:
        ledger.seal(workspace, catalog, by=actor.email)
    stored = {t.trigger_id: t for t in triggered_reviews(catalog)}
    return [stored[r["trigger_id"]] for r in rows if r["trigger_id"] in stored]
