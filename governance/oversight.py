"""Ongoing oversight: periodic review of deployed versions on a cadence set by their risk tier, and monitoring.

Approval at promotion is half of model risk management. SR 26-2 (which replaced SR 11-7 on 2026-04-17) ties the
frequency of validation to model risk, PRA SS1/23 sub-principle 4.5 asks for periodic revalidation, and Article 72
of the EU AI Act asks for post-market monitoring of high-risk systems. Here:

- each tier sets ``review_every_days`` and ``monitoring_every_days`` (``[policy.tiers.NAME]``);
- :func:`schedule` lists every version in use in the overseen environments (``[oversight] environments``, by
  default the last one) with its due date. In use: serving on an endpoint, or holding the registry label its
  account's settings map to that environment (an MLflow alias, a ZenML stage: what serving infrastructure loads a
  model by, where the registry knows no endpoint; ``ConnectorSettings.label_environment``).
  The due date is the last periodic review, else the day Countersign put it there, else
  its creation, plus the tier's cadence. ``overdue`` after that date, ``due`` within ``due_soon_days`` of it;
- :func:`record_review` is a risk officer's periodic review: evidence refreshed on the newest monitoring data
  (the same :func:`~governance.evidence.review_version` the Review page and ``countersign review`` call),
  the gates re-evaluated, a comment and an outcome (continue, restrict, retire), recorded in ``periodic_reviews``
  and in the ledger (``review.periodic``, subject ``version:ID``) in one transaction;
- :func:`monitor` recomputes the evidence the monitoring gates read (:func:`monitored_kinds`: drift and bias) of the
  versions whose monitoring is due; a failing monitoring gate (drift, weighted drift, fairness: registered with
  ``monitoring=True``), or cumulative change above the tier's ceiling, starts a triggered review
  (:mod:`governance.triggered`): a re-validation due now, open until the next periodic review.

This module owns the SQL of the ``periodic_reviews`` table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.canonical import canonical_json
from core.clock import utcnow
from core.errors import InputError
from core.progress import ProgressFn, no_progress
from governance import ledger
from governance.binding import flag_deployments, serving_labels
from governance.catalog import Catalog, InventoryFilter
from governance.config import Settings
from governance.context import Context
from governance.identity import require
from governance.ledger.subjects import version_subject
from governance.triggered import ChangeCount, TriggeredReview, open_triggers

OUTCOMES = ("continue", "restrict", "retire")
OUTCOME_HELP = {
    "continue": "the version stays in use unchanged until its next review",
    "restrict": "the version stays in use under restrictions the comment states (scope, volume, human review)",
    "retire": "the version must be taken out of service; no further review is scheduled",
}


def monitored_kinds() -> tuple[str, ...]:
    """The evidence kinds refreshed on the newest data: those the monitoring gates read (drift, bias; an explanation
    does not change with new traffic), in the order the gates are registered."""
    from governance import gates

    return tuple(dict.fromkeys(g.evidence_kind for g in gates.gates() if g.monitoring and g.evidence_kind))


def __getattr__(name: str) -> Any:
    if name == "REVIEW_KINDS":  # the name this module has always exported
        return monitored_kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
Status = Literal["overdue", "due", "scheduled", "retired", "no_cadence"]
SORTS = ("due", "tier")


@dataclass(frozen=True)
class PeriodicReview:
    """One recorded periodic review of a deployed version."""

    review_id: str
    version_id: str
    model: str
    reviewer: str
    outcome: str
    comment: str
    reviewed_at: dt.datetime
    tier: str | None
    evidence: dict[str, Any]  # kind -> {status, evidence_id, computed_at, summary, message}
    gates: tuple[dict[str, Any], ...]
    ledger_hash: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"review_id": self.review_id, "version_id": self.version_id, "model": self.model,
                "reviewer": self.reviewer, "outcome": self.outcome, "comment": self.comment,
                "reviewed_at": self.reviewed_at, "tier": self.tier, "evidence": self.evidence,
                "gates": list(self.gates), "ledger_hash": self.ledger_hash}


@dataclass(frozen=True)
class DueItem:
    """One deployed version under oversight and where its review and monitoring stand on a given day."""

    version_id: str
    model: str
    version: int
    environment: str
    tier: str
    owner: str | None
    deployed_on: str
    approval_status: str
    signed_off_at: dt.datetime | None  # when a Countersign promotion put it where it is
    last_review_at: dt.datetime | None
    last_outcome: str | None
    last_reviewer: str | None
    baseline_at: dt.datetime | None  # what the due date counts from
    review_every_days: int | None
    due_at: dt.datetime | None
    days_left: int | None  # negative when overdue
    status: Status
    monitoring_every_days: int | None = None
    last_monitored_at: dt.datetime | None = None
    monitoring_due_at: dt.datetime | None = None
    monitoring_status: str = "no_cadence"  # overdue | ok | never | no_cadence
    flag: str = ""  # the binding check's flag (governance.binding): never approved, or its artifact changed
    flag_reason: str = ""
    # re-validations a monitoring breach or cumulative change started, not yet answered by a periodic review
    triggered: tuple[TriggeredReview, ...] = ()

    @property
    def never_reviewed(self) -> bool:
        return self.last_review_at is None

    @property
    def first_review_now(self) -> bool:
        """Serving with neither a periodic review nor a Countersign sign-off: its first review is due today."""
        return self.never_reviewed and self.signed_off_at is None and self.status == "due"

    @property
    def needs_attention(self) -> bool:
        """Due, overdue, triggered, or never reviewed: what ``countersign due`` lists."""
        return (self.status in ("due", "overdue") or bool(self.triggered)
                or (self.never_reviewed and self.status != "retired"))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["never_reviewed"] = self.never_reviewed
        out["first_review_now"] = self.first_review_now
        out["triggered"] = [t.as_dict() for t in self.triggered]
        return out


@dataclass(frozen=True)
class Schedule:
    """Every deployed version under oversight, as of ``as_of``."""

    as_of: dt.datetime
    environments: tuple[str, ...]
    items: tuple[DueItem, ...] = field(default=())

    @property
    def attention(self) -> tuple[DueItem, ...]:
        return tuple(i for i in self.items if i.needs_attention)

    @property
    def triggered(self) -> tuple[TriggeredReview, ...]:
        """Every open triggered review of the versions shown, oldest first."""
        return tuple(sorted((t for i in self.items for t in i.triggered), key=lambda t: (t.triggered_at, t.trigger_id)))

    def count(self, status: str) -> int:
        """How many items have ``status`` (``never_reviewed`` counts those never reviewed, ``triggered`` those with an
        open triggered review)."""
        if status == "never_reviewed":
            return sum(i.never_reviewed for i in self.items)
        if status == "triggered":
            return sum(bool(i.triggered) for i in self.items)
        return sum(i.status == status for i in self.items)


def _now() -> dt.datetime:
    return utcnow().replace(microsecond=0)


def oversight_environments(settings: Settings) -> tuple[str, ...]:
    """The environments whose serving versions are periodically reviewed (default: the last one)."""
    return settings.oversight.environments or settings.environments.order[-1:]


# -- reading ------------------------------------------------------------------------------------------------------

def _review(row: dict[str, Any]) -> PeriodicReview:
    return PeriodicReview(**row)


def reviews(catalog: Catalog, *, version_id: str | None = None, model: str | None = None) -> list[PeriodicReview]:
    """Periodic reviews (of one version or model), newest first."""
    return [_review(r) for r in catalog.periodic_reviews(version_id=version_id, model=model)]


def _last_reviews(catalog: Catalog) -> tuple[dict[str, PeriodicReview], dict[str, dt.datetime]]:
    """The newest review of each version, and when Countersign's promotions put versions where they are."""
    rows, signed = catalog.latest_periodic_reviews()
    return {r["version_id"]: _review(r) for r in rows}, signed


def _last_monitored(catalog: Catalog, version_id: str) -> dt.datetime | None:
    """When evidence was last computed on the version's registered monitoring data (the newest row of a kind that
    reads new traffic, such as drift; uploads do not count)."""
    from governance.analytics import kinds
    from governance.analytics.evidence import latest_evidence

    found = [latest_evidence(catalog, version_id, k) for k in kinds.names() if kinds.kind(k).current_input]
    return max((e.computed_at for e in found if e is not None), default=None)


def _status(due_at: dt.datetime | None, now: dt.datetime, soon_days: int) -> Status:
    if due_at is None:
        return "no_cadence"
    if now > due_at:
        return "overdue"
    return "due" if due_at - now <= dt.timedelta(days=soon_days) else "scheduled"


def schedule(ctx: Context, *, now: dt.datetime | None = None, sort: str = "due",
             only_attention: bool = False) -> Schedule:
    """Every version serving in the overseen environments with its review and monitoring due dates.

    Args:
        ctx: the opened workspace; its identity asks (needs "view").
        now: the day to judge against (tests and previews move it forward).
        sort: ``due`` (earliest due date first) or ``tier`` (tier order of countersign.toml, then due date).
        only_attention: keep only what is due, overdue or never reviewed.
    """
    settings, catalog = ctx.settings, ctx.catalog
    require(ctx.identity, "view")
    if sort not in SORTS:
        raise InputError(f"unknown sort {sort!r} (known: {', '.join(SORTS)})")
    moment = now or _now()
    envs = oversight_environments(settings)
    inv = catalog.inventory(InventoryFilter(environments=envs), settings.environments.order)
    inv = flag_deployments(settings, catalog, inv)
    inv = inv[inv["in_use"]]
    last, signed = _last_reviews(catalog)
    triggers = open_triggers(catalog, {v: r.reviewed_at for v, r in last.items()})
    items = []
    for r in inv.itertuples():
        tier_name = r.risk_tier if isinstance(r.risk_tier, str) and r.risk_tier in settings.policy.tiers \
            else settings.policy.default_tier
        tier = settings.tier(tier_name)
        review = last.get(r.version_id)
        signed_at = signed.get(r.version_id)
        created = r.created_at.to_pydatetime() if hasattr(r.created_at, "to_pydatetime") else r.created_at
        created = None if created is None or created != created else created  # NaT
        baseline = review.reviewed_at if review else signed_at
        every = tier.review_every_days
        due = baseline + dt.timedelta(days=every) if every and baseline else None
        status = _status(due, moment, settings.oversight.due_soon_days)
        if every and baseline is None:  # serving with neither a review nor a sign-off: nothing vouches for it yet
            due, status = moment, "due"
        if review is not None and review.outcome == "retire":
            status, due = "retired", None
        monitored = _last_monitored(catalog, r.version_id)
        m_every = tier.monitoring_every_days
        m_base = monitored or signed_at or created
        m_due = m_base + dt.timedelta(days=m_every) if m_every and m_base else None
        if not m_every:
            m_status = "no_cadence"
        elif monitored is None:
            m_status = "never"
        else:
            m_status = "overdue" if m_due is not None and moment > m_due else "ok"
        items.append(DueItem(
            version_id=r.version_id, model=r.model, version=int(r.version), environment=r.environment,
            tier=tier_name, owner=r.owner if isinstance(r.owner, str) else None,
            deployed_on=r.deployed_on if isinstance(r.deployed_on, str) and r.deployed_on
            else f"label {', '.join(r.serving_labels)}",
            approval_status=r.approval_status, signed_off_at=signed_at,
            last_review_at=review.reviewed_at if review else None, last_outcome=review.outcome if review else None,
            last_reviewer=review.reviewer if review else None, baseline_at=baseline, review_every_days=every,
            due_at=due, days_left=(due - moment).days if due else None, status=status,
            monitoring_every_days=m_every, last_monitored_at=monitored, monitoring_due_at=m_due,
            monitoring_status=m_status, flag=r.flag, flag_reason=r.flag_reason,
            triggered=() if status == "retired" else triggers.get(r.version_id, ()),
        ))
    tiers = list(settings.policy.tiers)
    far = dt.datetime.max

    def key(i: DueItem) -> tuple[Any, ...]:
        by_due = (i.due_at or far, i.version_id)
        return (tiers.index(i.tier) if i.tier in tiers else len(tiers), *by_due) if sort == "tier" else by_due

    ordered = sorted(items, key=key)
    if only_attention:
        ordered = [i for i in ordered if i.needs_attention]
    return Schedule(as_of=moment, environments=envs, items=tuple(ordered))


# -- writing ------------------------------------------------------------------------------------------------------


def _serving(settings: Settings, catalog: Catalog, version_id: str) -> bool:
    """Whether the version serves on an endpoint, or holds the registry label of an overseen environment."""
    version = catalog.version(version_id)  # NotFound for an unknown id
    inv = catalog.inventory(InventoryFilter(model=version.model))
    row = inv[inv["version_id"] == version_id]
    if not len(row):
        return False
    r = row.iloc[0]
    account = next((a for a in settings.accounts if a.name == r["account"]), None)
    return bool(r["serving"]) or (r["environment"] in oversight_environments(settings)
                                  and bool(serving_labels(account, r["environment"], r["labels"])))


def _evidence_doc(item: Any) -> dict[str, Any]:
    ev = item.evidence
    doc: dict[str, Any] = {"status": item.status, "message": item.message}
    if ev is not None:
        doc.update(evidence_id=ev.evidence_id, computed_at=ev.computed_at, summary=ev.summary.to_json())
    return doc


def record_review(
    ctx: Context,
    version_id: str,
    outcome: str,
    comment: str,
    *,
    refresh: bool = True,
    kinds: Sequence[str] | None = None,
    progress: ProgressFn = no_progress,
    now: dt.datetime | None = None,
) -> PeriodicReview:
    """Record a risk officer's periodic review of a deployed version.

    Args:
        ctx: the opened workspace; its identity is the reviewer (needs "review_periodic").
        version_id: a version in use in an overseen environment (serving, or holding a registry label there).
        outcome: continue, restrict or retire.
        comment: what the reviewer concluded and why (at least 10 characters).
        refresh: recompute the evidence on the newest data (else only stored evidence is cited).
        kinds: the evidence kinds refreshed and cited (default: :func:`monitored_kinds`).
        progress: called with a message and a fraction in [0, 1] while evidence is computed.
        now: the review's date (the clock when None).

    Returns:
        The stored :class:`PeriodicReview`.

    Raises:
        AccessDenied: the actor is not a risk officer.
        InputError: unknown outcome, short comment, or the version serves nowhere.
        NotFound: unknown version.
    """
    workspace, settings, catalog, actor = ctx.workspace, ctx.settings, ctx.catalog, ctx.identity
    require(actor, "review_periodic")
    if outcome not in OUTCOMES:
        raise InputError(f"unknown outcome {outcome!r}: choose one of {', '.join(OUTCOMES)}")
    text = (comment or "").strip()
    if len(text) < 10:
        raise InputError("a periodic review needs a comment of at least 10 characters: what was checked, "
                         "what was concluded")
    if not _serving(settings, catalog, version_id):
        raise InputError(f"{version_id} serves on no endpoint and holds no registry label in "
                         f"{', '.join(oversight_environments(settings))}: periodic reviews are for versions in use "
                         "(see 'countersign due')")
    from governance.evidence import review_version
    from governance.policy import evaluate

    version = catalog.version(version_id)
    moment = now or _now()
    kinds = tuple(monitored_kinds() if kinds is None else kinds)
    result = review_version(workspace, settings, catalog, version_id, actor=actor, kinds=tuple(kinds),
                            progress=progress, compute=refresh)
    evidence = {k: _evidence_doc(result.item(k)) for k in kinds}
    checklist = evaluate(catalog, settings, version_id, version.environment, now=moment)
    gates = tuple(r.as_dict() for r in checklist.results)
    review_id = f"PRV-{moment:%Y%m%d}-{uuid.uuid4().hex[:6]}"
    last = {r.version_id: r.reviewed_at for r in reviews(catalog, version_id=version_id)[:1]}
    answers = [t.trigger_id for t in open_triggers(catalog, last).get(version_id, ()) if t.triggered_at <= moment]
    with catalog.transaction() as con:
        ledger.require_sealed_tail(workspace, con, f"the periodic review of {version_id}")
        entry = ledger.append(con, actor=actor.email, action="review.periodic", subject=version_subject(version_id),
                              at=moment, payload={
                                  "review_id": review_id, "version_id": version_id, "outcome": outcome,
                                  "comment": text, "tier": checklist.tier_name,
                                  "evidence": {k: v.get("evidence_id") or v["status"] for k, v in evidence.items()},
                                  "gates": {r.gate: r.status for r in checklist.results},
                                  # the triggered reviews this re-validation answers (they close with it)
                                  **({"answers_triggers": answers} if answers else {})})
        catalog.insert_periodic_review(con, {
            "review_id": review_id, "version_id": version_id, "model": version.model, "reviewer": actor.email,
            "outcome": outcome, "comment": text, "reviewed_at": moment, "tier": checklist.tier_name,
            "evidence": canonical_json(_plain(evidence)), "gates": canonical_json(_plain(list(gates))),
            "ledger_hash": entry.hash})
    ledger.seal(workspace, catalog, by=actor.email)
    found = reviews(catalog, version_id=version_id)
    return next(r for r in found if r.review_id == review_id)


def _plain(value: Any) -> Any:
    """JSON-ready (dates as ISO text) for canonical_json."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


# -- monitoring ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorResult:
    """Drift and bias of one deployed version recomputed (or found unchanged) on its newest monitoring data, the
    gates that evidence breaches, the cumulative change since its last full validation, and the open triggered
    reviews of the version (a breach or a change above the ceiling starts one)."""

    version_id: str
    items: dict[str, dict[str, Any]]  # kind -> {status, evidence_id, computed_at, message}
    breaches: tuple[dict[str, Any], ...]  # failing drift/weighted drift/fairness gates: gate record + columns, figure
    change: ChangeCount | None = None
    triggered: tuple[TriggeredReview, ...] = ()

    @property
    def failing(self) -> bool:
        """Whether monitoring found something that needs a re-validation (``countersign monitor`` exits 1)."""
        return bool(self.breaches) or any(t.kind == "cumulative_change" for t in self.triggered)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"version_id": self.version_id, "items": self.items, "breaches": list(self.breaches),
                "change": self.change.as_dict() if self.change else None,
                "triggered": [t.as_dict() for t in self.triggered]}


def gate_breaches(settings: Settings, catalog: Catalog, version_id: str, environment: str,
                  now: dt.datetime) -> tuple[dict[str, Any], ...]:
    """The drift, weighted drift and fairness gates the version's newest evidence fails (the tier's gates for its
    environment), each with the ``columns`` it is about and its ``figure``."""
    from governance.policy import evaluate, monitoring_gates
    from governance.triggered import breach_from

    watched = set(monitoring_gates())
    checklist = evaluate(catalog, settings, version_id, environment, now=now)
    return tuple(breach_from(r, r.evidence[0].summary if r.evidence else None) for r in checklist.results
                 if r.gate in watched and r.status == "fail")


def monitor(ctx: Context, *, now: dt.datetime | None = None, everything: bool = False,
            progress: ProgressFn = no_progress) -> list[MonitorResult]:
    """Recompute drift and bias of every deployed version whose monitoring is due (or of all with ``everything``),
    and start a triggered review for each breach and for cumulative change above the tier's ceiling.

    Evidence is keyed by the content of its inputs: when no new monitoring data arrived the stored row is
    found again (status ``cached``), and the version stays due, because new data is what monitoring needs. A version
    without an explanation gets one first (SHAP, once per artifact), so its drift is weighed by what its model
    relies on. ``ctx``'s identity computes the evidence and records the triggers.
    """
    workspace, settings, catalog, actor = ctx.workspace, ctx.settings, ctx.catalog, ctx.identity
    require(actor, "compute_evidence")
    from governance.evidence import review_version
    from governance.triggered import breach_trigger, change_trigger, cumulative_change, record_triggers

    plan = schedule(ctx, now=now)
    watched = monitored_kinds()
    todo = [i for i in plan.items if everything or i.monitoring_status in ("overdue", "never")]
    found = []
    for n, item in enumerate(todo):
        def sub(message: str, fraction: float, _n: int = n, _vid: str = item.version_id) -> None:
            progress(f"{_vid}: {message}", (_n + fraction) / max(len(todo), 1))

        result = review_version(workspace, settings, catalog, item.version_id, actor=actor,
                                kinds=(*_prerequisites(catalog, item.version_id, watched), *watched), progress=sub)
        docs = {k: {key: v for key, v in _evidence_doc(result.item(k)).items() if key != "summary"}
                for k in watched}
        breaches = gate_breaches(settings, catalog, item.version_id, item.environment, plan.as_of)
        ceiling = settings.tier(item.tier).max_cumulative_change
        change = cumulative_change(ctx, item.version_id)
        version = catalog.version(item.version_id)
        rows = [breach_trigger(version, b) for b in breaches]
        if ceiling is not None and change.total > ceiling:
            rows.append(change_trigger(version, change, ceiling))
        found.append((item.version_id, docs, breaches, change, rows))
    recorded = record_triggers(ctx, [r for *_, rows in found for r in rows], plan.as_of)
    by_id = {t.trigger_id: t for t in recorded}
    progress("done", 1.0)
    return [MonitorResult(vid, docs, breaches, change, tuple(by_id[r["trigger_id"]] for r in rows
                                                             if r["trigger_id"] in by_id))
            for vid, docs, breaches, change, rows in found]


def _prerequisites(catalog: Catalog, version_id: str, watched: Sequence[str]) -> tuple[str, ...]:
    """The kinds the watched kinds read (an explanation, which weighs drift) that the version has none of yet."""
    from governance.analytics import kinds
    from governance.analytics.evidence import evidence_through_lineage

    wanted = dict.fromkeys(r for k in watched for r in kinds.kind(k).reads if r not in watched)
    return tuple(k for k in wanted if evidence_through_lineage(catalog, version_id, k) is None)


def version_oversight(ctx: Context, version_id: str, *,
                      now: dt.datetime | None = None) -> tuple[list[PeriodicReview], DueItem | None]:
    """The periodic reviews of one version, newest first, and its schedule row (None when not under oversight)."""
    item = next((i for i in schedule(ctx, now=now).items if i.version_id == version_id), None)
    return reviews(ctx.catalog, version_id=version_id), item
