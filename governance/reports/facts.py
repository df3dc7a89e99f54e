"""The facts of one report, collected from the catalog, the evidence, the sign-off tables and the ledger.

Everything the PDF prints comes from :class:`ReportFacts`, and every date in it comes from those records (never
the clock), so the same records give the same bytes. Evidence that does not exist is listed as a gap.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import naive_utc
from core.hashing import sha256_file
from core.structs import to_builtins
from core.wording import words
from governance.analytics import kinds as evidence_kinds
from governance.analytics.evidence import Evidence
from governance.analytics.summaries import EvidenceSummary
from governance.catalog import Catalog, Model, Version
from governance.config import Settings, Workspace
from governance.identity import Identity
from governance.ledger import Checkpoint, covering_checkpoint
from governance.snapshot import DecisionSnapshot

# Ledger actions written by exports themselves: left out of the report so re-exporting does not change it.
EXPORT_ACTIONS = ("report.export", "pack.export")
SOFTWARE = (
    "countersign", "reportlab", "pyhanko", "vl-convert-python", "altair", "duckdb", "pandas", "scikit-learn",
    "skops", "evidently", "fairlearn", "shap",
)


@dataclass(frozen=True)
class EvidenceItem:
    """One stored evidence row the report cites."""

    evidence_id: str
    kind: str
    version_id: str | None
    input_hash: str
    config_hash: str
    computed_at: dt.datetime | None
    computed_by: str | None
    summary: EvidenceSummary
    result: dict[str, Any]
    software: dict[str, Any]
    inputs: dict[str, Any]


@dataclass(frozen=True)
class DecidedView:
    """What the newest decision on one request saw (frozen in its payload) and, apart, what changed since."""

    request_id: str
    snapshot: DecisionSnapshot
    changes: tuple[str, ...]


@dataclass(frozen=True)
class ReportFacts:
    """Everything one report states, gathered once."""

    workspace_name: str
    model: Model
    version: Version
    tier: str
    policy: dict[str, Any]
    lineage: tuple[Version, ...]
    descendants: tuple[str, ...]
    peers: tuple[Version, ...]
    run: dict[str, Any] | None
    card: dict[str, Any] | None
    deployments: tuple[dict[str, Any], ...]
    evidence: dict[str, EvidenceItem]
    evidence_notes: dict[str, str]
    requests: tuple[dict[str, Any], ...]
    decisions: tuple[dict[str, Any], ...]
    ledger: tuple[dict[str, Any], ...]
    checkpoint: Checkpoint | None
    datasets: dict[str, str]
    dataset_sources: dict[str, str]
    gates: tuple[dict[str, Any], ...]
    gates_note: str
    model_config: dict[str, Any]
    generated_by: str
    generated_at: dt.datetime
    software: dict[str, str] = field(default_factory=dict)
    # per request with an approval or rejection: what its newest decision saw, and what changed by the report date
    decided: tuple[DecidedView, ...] = ()
    # ongoing oversight: periodic reviews of this version (newest first), and whether one is expected
    reviews: tuple[dict[str, Any], ...] = ()
    under_oversight: bool = False
    # the version beside its sources and copies (governance.compare.Consistency); None when not collected
    consistency: Any = None
    # the version's registry history: its states, the deployments serving it, its account's observation gaps
    history: tuple[dict[str, Any], ...] = ()
    # the policy was evaluated for the version's next step (``gates`` empty then: the tier sets no gate for it)
    gates_evaluated: bool = False
    history_deployments: tuple[dict[str, Any], ...] = ()
    history_gaps: tuple[dict[str, Any], ...] = ()
    # the model's versions in use (an endpoint, or the registry label of their environment) and the binding check's
    # verdict on each (governance.binding): approved in Countersign, with the artifact it approved
    in_use: tuple[dict[str, Any], ...] = ()
    # re-validations a monitoring breach or cumulative change started (governance.triggered), newest first, each
    # with ``open`` (no periodic review recorded after it yet)
    triggered: tuple[dict[str, Any], ...] = ()
    # the fallback and incident registers and the regimes in force (governance.reports.lifecycle.LifecycleFacts)
    lifecycle: Any = None

    @functools.cached_property
    def fingerprint(self) -> str:
        """A sha256 over the facts: equal facts, equal fingerprint (computed once: the cover, the PDF's record and
        the HTML all print it)."""
        from core.canonical import canonical_json

        def plain(v: Any) -> Any:
            fields = getattr(v, "__dataclass_fields__", None) or getattr(v, "__struct_fields__", None)
            if fields is not None and not isinstance(v, type):  # a dataclass or a record (core.structs)
                return {k: plain(getattr(v, k)) for k in fields}
            if isinstance(v, Path):  # by name: a copy of the workspace elsewhere states the same facts
                return v.name
            if isinstance(v, dict):
                return {str(k): plain(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [plain(x) for x in v]
            return v

        return hashlib.sha256(canonical_json(plain(self)).encode()).hexdigest()


def _load(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _as_dict(value: Any) -> dict[str, Any]:
    loaded = _load(value)
    if isinstance(loaded, dict):
        return loaded
    if loaded is None:
        return {}
    return {"value": loaded}


def _from_analytics(ev: Evidence) -> EvidenceItem:
    return EvidenceItem(
        evidence_id=ev.evidence_id,
        kind=ev.kind,
        version_id=ev.version_id,
        input_hash=ev.input_hash or "",
        config_hash=ev.config_hash or "",
        computed_at=ev.computed_at,
        computed_by=ev.computed_by,
        summary=ev.summary,
        result=_as_dict(ev.result),
        software=_as_dict(ev.software),
        inputs=_as_dict(ev.inputs),
    )




def evaluate_gates(
    catalog: Catalog, settings: Settings, version: Version, at: dt.datetime
) -> tuple[tuple[dict[str, Any], ...], str, bool]:
    """Gate verdicts of the version's tier as of ``at`` (the report date, so the verdicts are reproducible), what
    they are, and whether the policy could be evaluated at all."""
    from core.errors import CountersignError
    from governance import policy

    to_env = policy.next_environment(settings, version.environment)
    try:
        checklist = policy.evaluate(catalog, settings, version.version_id, to_env, now=at)
    except CountersignError as exc:
        return (), f"gates could not be evaluated: {exc}", False
    rows = tuple(dict(r.as_dict()) for r in checklist.results)
    return (rows, f"policy gates of tier {checklist.tier_name} for promotion into {to_env}, as of "
                  f"{at:%Y-%m-%d %H:%M:%S}", True)


def decided_views(catalog: Catalog, settings: Settings, workspace: Workspace, requests: tuple[dict[str, Any], ...],
                  decisions: tuple[dict[str, Any], ...], at: dt.datetime) -> tuple[DecidedView, ...]:
    """For each request with an approval or rejection, the snapshot of its newest one and the changes since then
    (gates evaluated as of ``at``, the report date, so the same records give the same report)."""
    from core.errors import CountersignError
    from governance import policy
    from governance.catalog.signoff import Decision
    from governance.snapshot import changes_since, latest_snapshot

    out = []
    for req in requests:
        snap = latest_snapshot(Decision.from_row(d) for d in decisions if d["request_id"] == req["request_id"])
        if snap is None:
            continue
        try:
            checklist = policy.evaluate(catalog, settings, req["version_id"], req["to_env"], now=at)
        except CountersignError as exc:
            out.append(DecidedView(req["request_id"], snap, (f"gates could not be evaluated now: {exc}",)))
            continue
        now_version = policy.policy_version(settings, checklist.tier_name, workspace.root)
        out.append(DecidedView(req["request_id"], snap, tuple(changes_since(snap, checklist, now_version).lines())))
    return tuple(out)


def dataset_hashes(
    workspace: Workspace, settings: Settings, version: Version, evidence: dict[str, EvidenceItem]
) -> tuple[dict[str, str], dict[str, str]]:
    """sha256 of each dataset of the version and where it comes from.

    The hash an evidence row recorded for its input is the one the report's numbers rest on, so it is taken
    from there; a dataset no evidence used is fetched through its account's connector and hashed.
    """
    from core.errors import CountersignError
    from governance.sources import version_file

    recorded: dict[str, tuple[str, str]] = {}
    for item in sorted(evidence.values(), key=lambda e: e.evidence_id):
        for info in item.inputs.values():
            if isinstance(info, dict) and info.get("uri") and isinstance(info.get("sha256"), str):
                recorded.setdefault(info["uri"], (info["sha256"], f"evidence {item.evidence_id}"))
    hashes: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in sorted(version.data_uris):
        uri = version.data_uris[key]
        if uri in recorded:
            hashes[key], sources[key] = recorded[uri]
            continue
        try:
            hashes[key], sources[key] = sha256_file(version_file(workspace, settings, version, key)), "file"
        except (CountersignError, OSError) as exc:
            hashes[key], sources[key] = f"unavailable: {exc}", "-"
    return hashes, sources


def _software() -> dict[str, str]:
    out = {}
    for name in SOFTWARE:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _max_date(*values: Any) -> dt.datetime:
    dates = [v for v in values if isinstance(v, dt.datetime)]
    if not dates:
        return dt.datetime(1970, 1, 1)
    return max(naive_utc(d) for d in dates)


def _through_lineage(catalog: Catalog, version_id: str, kinds: tuple[str, ...]) -> EvidenceItem | None:
    """The version's own newest evidence, else that of the version it was promoted from unchanged (one rule,
    :func:`governance.analytics.evidence.evidence_through_lineage`, as the policy gates and the Review page)."""
    from governance.analytics.evidence import evidence_through_lineage

    for kind in kinds:
        found = evidence_through_lineage(catalog, version_id, kind)
        if found is not None:
            return _from_analytics(found)
    return None


def signoff_records(
    catalog: Catalog, version_ids: list[str]
) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """Promotion requests of the versions, their decisions, and the ledger entries about either (one connection)."""
    requests, decisions, ledger = catalog.signoff_trail(version_ids, leave_out_actions=EXPORT_ACTIONS)
    return tuple(requests), tuple(decisions), tuple(ledger)


def oversight_records(settings: Settings, catalog: Catalog, version: Version,
                      in_use: tuple[dict[str, Any], ...]) -> tuple[tuple[dict[str, Any], ...], bool]:
    """The version's periodic reviews (newest first) and whether it is in use where reviews are expected."""
    from governance.oversight import oversight_environments, reviews

    serving = any(d["version_id"] == version.version_id for d in in_use)
    found = tuple(r.as_dict() for r in reviews(catalog, version_id=version.version_id))
    return found, serving and version.environment in oversight_environments(settings)


def in_use_records(settings: Settings, catalog: Catalog, model: str) -> tuple[dict[str, Any], ...]:
    """The versions of ``model`` in use (an endpoint in service, or the registry label of their environment), each
    with how it serves and the binding check's verdict (``flag``, ``reason``, the binding ``request_id``)."""
    from governance.binding import row_flags
    from governance.catalog import InventoryFilter

    rows = catalog.inventory_rows(InventoryFilter(model=model), environment_order=settings.environments.order)
    return tuple(
        {"version_id": r["version_id"], "environment": r["environment"], "how": f.how,
         "flag": f.flag.removeprefix("⚠ "), "reason": f.reason, "request_id": f.request_id,
         "approved_sha256": f.approved_sha256, "current_sha256": f.current_sha256}
        for r, f in zip(rows, row_flags(settings, catalog, rows), strict=True) if f.in_use)


def history_records(settings: Settings, catalog: Catalog, version: Version) -> tuple[dict[str, Any], ...]:
    """The version's history states, each with the labels that meant its environment then (the deployment by
    label; the account's label mapping as configured today)."""
    from governance.binding import serving_labels

    account = next((a for a in settings.accounts if a.name == version.account), None)
    states = catalog.version_history_rows(version.version_id)
    return tuple({**h, "serving_labels": list(serving_labels(account, h.get("environment") or "",
                                                             _labels(h.get("labels"))))} for h in states)


def _labels(value: Any) -> list[str]:
    loaded = _load(value)
    return [str(x) for x in loaded] if isinstance(loaded, list) else []


def triggered_records(catalog: Catalog, version_id: str, reviews: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    """The version's triggered reviews, newest first, each marked ``open`` until a periodic review follows it."""
    from governance.triggered import triggered_reviews

    last = max((r["reviewed_at"] for r in reviews), default=None)
    return tuple({**t.as_dict(), "open": last is None or t.triggered_at > last}
                 for t in triggered_reviews(catalog, version_id=version_id))


def collect_facts(
    workspace: Workspace, settings: Settings, catalog: Catalog, version_id: str, identity: Identity
) -> ReportFacts:
    """Gather every fact the report of ``version_id`` states (read only)."""
    version = catalog.version(version_id)
    model = catalog.model(version.model)
    lineage = tuple(catalog.lineage(version_id))
    descendants = tuple(catalog.descendants(version_id))
    root = lineage[-1].version_id
    family = {version_id, root, *descendants, *(v.version_id for v in lineage)}
    peers = tuple(v for v in catalog.versions_of(version.model) if v.version_id in family)
    run = catalog.run(version.run_id) if version.run_id else None
    card = catalog.model_card(version.model)
    deployments = tuple(catalog.deployment_rows(version.model))

    evidence: dict[str, EvidenceItem] = {}
    notes: dict[str, str] = {}
    for key in evidence_kinds.names():
        # the rule the gates and the Review page apply: a kind that holds for a copy promoted unchanged carries over
        item = _through_lineage(catalog, version_id, (key,))
        if item is not None:
            evidence[key] = item
        else:
            notes[key] = (f"no {words(key)} evidence stored for {version_id} (compute it on the Review page or with "
                          f"'countersign review --version {version_id}')")

    from governance.reports.lifecycle import lifecycle_latest

    requests, decisions, ledger = signoff_records(catalog, sorted(family))
    in_use = in_use_records(settings, catalog, version.model)
    reviews, under_oversight = oversight_records(settings, catalog, version, in_use)
    triggered = triggered_records(catalog, version_id, reviews)
    tier = model.risk_tier or settings.policy.default_tier
    policy = to_builtins(settings.tier(tier))
    model_cfg = settings.models.get(version.model)
    generated_at = _max_date(
        version.created_at, version.modified_at,
        *(e.computed_at for e in evidence.values()),
        *(r.get("created_at") for r in requests), *(r.get("updated_at") for r in requests),
        *(d.get("created_at") for d in decisions), *(e.get("recorded_at") for e in ledger),
        *(x["reviewed_at"] for x in reviews), *(t["triggered_at"] for t in triggered),
        lifecycle_latest(catalog, version.model),
    )
    gates, gates_note, gates_evaluated = evaluate_gates(catalog, settings, version, generated_at)
    datasets, dataset_sources = dataset_hashes(workspace, settings, version, evidence)
    from governance.compare import environment_consistency
    from governance.reports.lifecycle import lifecycle_facts

    consistency = environment_consistency(catalog, version_id, settings.environments.order)
    return ReportFacts(
        workspace_name=settings.workspace.name,
        model=model,
        version=version,
        tier=tier,
        policy=policy,
        lineage=lineage,
        descendants=descendants,
        peers=peers,
        run=run,
        card=card,
        deployments=deployments,
        evidence=evidence,
        evidence_notes=notes,
        requests=requests,
        decisions=decisions,
        ledger=ledger,
        checkpoint=covering_checkpoint(workspace, max((e["seq"] for e in ledger), default=0)),
        datasets=datasets,
        dataset_sources=dataset_sources,
        gates=gates,
        gates_note=gates_note,
        gates_evaluated=gates_evaluated,
        model_config=to_builtins(model_cfg) if model_cfg else {},
        generated_by=identity.label,
        generated_at=generated_at,
        software=_software(),
        decided=decided_views(catalog, settings, workspace, requests, decisions, generated_at),
        reviews=reviews,
        under_oversight=under_oversight,
        consistency=consistency,
        history=history_records(settings, catalog, version),
        history_deployments=tuple(catalog.deployment_history_rows([version_id])),
        history_gaps=tuple(catalog.history_gap_rows([version.account]))
        + tuple(catalog.version_gap_rows([version_id])),
        in_use=in_use,
        triggered=triggered,
        lifecycle=lifecycle_facts(workspace, settings, catalog, identity, version, family, generated_at),
    )


