"""Fallback and kill switch register: what takes over when a model in production must stop, decided in advance.

PRA SS1/23's 2025 AI/ML review asks for pre-approved fallback or challenger models and kill switches. Here, per
model in use in an environment (prod), a **plan** names the fallback:

- ``version``: an earlier version of the model in that environment that Countersign approved there;
- ``challenger``: another approved version in that environment (a simpler model, another model's version);
- ``switch_off``: no model; the plan names the business process that takes over (a manual runbook).

A plan is proposed (``propose_fallback``) and approved like a promotion: by ``approvals_required`` risk officers
of the model's tier, none of them the proposer (four eyes), counted from the plan's ledger entries. It binds the
fallback's artifact digest as Countersign reads it at proposal. A **rehearsal** is a dry run that checks the
fallback's bytes are still the approved ones and the registry that would be switched is reachable and writable
through its connector; it writes nothing to a registry, only its outcome to the ledger.

**Execution** (``countersign fallback MODEL``, the portal's button for risk officers) is the emergency path: one
risk officer, executed at once, marked ``emergency`` in the ledger. Through the account's connector (the same
:class:`~connectors.base.Promoter` promotions use) the fallback version is approved (or, where a registry label
means the environment, the label moves to it) and the version in use is set to ``Rejected``; a switch-off only
rejects. A review after the fact by another risk officer is due within the tier's ``fallback_review_days``.

Every step is one ledger entry (subject ``fallback:PLAN``) written under the tail check; the tables of
:mod:`governance.catalog.lifecycle` are insert-only and a plan's state is replayed from its events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.base import Connector, PromotionRef
from core.clock import utcnow
from core.credentials import redact
from core.errors import AccessDenied, ArtifactMismatch, ConflictError, CountersignError, InputError, NotFound
from core.ids import new_dated_id, new_event_id
from core.inputs import required_text
from governance import ledger
from governance.binding import row_flags
from governance.catalog import Catalog, InventoryFilter, Version
from governance.config import Settings
from governance.context import Context
from governance.identity import require
from governance.ledger.subjects import fallback_subject
from governance.policy import model_tier

KINDS = ("version", "challenger", "switch_off")
KIND_HELP = {
    "version": "an earlier version of the model that Countersign approved in this environment",
    "challenger": "another approved version in this environment (a simpler or a challenger model)",
    "switch_off": "no model: the named business process takes over (the kill switch)",
}
ConnectorFactory = Callable[[str], Connector]


@dataclass(frozen=True)
class FallbackPlan:
    """A proposed or approved fallback of one model in one environment, with its state replayed from its events."""

    plan_id: str
    model: str
    environment: str
    kind: str
    protects: str | None  # the version in use when the plan was proposed
    fallback_version_id: str | None
    fallback_sha256: str | None
    business_process: str | None
    reason: str
    tier: str | None
    approvals_required: int
    proposed_by: str
    proposed_at: dt.datetime
    status: str = "proposed"  # proposed | approved | rejected | superseded
    approvers: tuple[str, ...] = ()
    approved_at: dt.datetime | None = None
    ledger_hash: str | None = None

    def describe(self) -> str:
        """One line: what takes over."""
        if self.kind == "switch_off":
            return f"switch off; {self.business_process} takes over"
        return f"fall back to {self.fallback_version_id} ({self.kind})"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "describe": self.describe()}


@dataclass(frozen=True)
class Check:
    """One check of a rehearsal."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Rehearsal:
    """A dry run of a plan: whether the fallback could be executed now."""

    event_id: str
    plan_id: str
    actor: str
    at: dt.datetime
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"event_id": self.event_id, "plan_id": self.plan_id, "actor": self.actor, "at": self.at,
                "passed": self.passed, "checks": [c.__dict__ for c in self.checks]}


@dataclass(frozen=True)
class FallbackExecution:
    """One emergency execution of a plan and where its review after the fact stands."""

    event_id: str
    plan_id: str
    model: str
    environment: str
    actor: str
    executed_at: dt.datetime
    outcome: str  # executed | failed
    reason: str
    detail: dict[str, Any]
    review_due: dt.datetime | None
    emergency: bool = True
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None
    review_comment: str | None = None
    review_status: str = "due"  # due | overdue | reviewed

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ModelFallbacks:
    """The fallback register's row of one model in one environment."""

    model: str
    environment: str
    in_use: tuple[str, ...]
    tier: str
    active: FallbackPlan | None
    pending: tuple[FallbackPlan, ...] = ()
    rehearsals: tuple[Rehearsal, ...] = ()
    executions: tuple[FallbackExecution, ...] = ()

    @property
    def finding(self) -> str:
        """What an examiner would flag, one line, or empty."""
        if self.active is None and self.in_use:
            return f"{self.model} is in use in {self.environment} with no approved fallback"
        late = [e for e in self.executions if e.review_status == "overdue"]
        if late:
            return f"the review of emergency fallback {late[0].event_id} was due {late[0].review_due:%Y-%m-%d}"
        return ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"model": self.model, "environment": self.environment, "in_use": list(self.in_use), "tier": self.tier,
                "active": self.active.as_dict() if self.active else None,
                "pending": [p.as_dict() for p in self.pending], "rehearsals": [r.as_dict() for r in self.rehearsals],
                "executions": [e.as_dict() for e in self.executions], "finding": self.finding}


@dataclass(frozen=True)
class FallbackRegister:
    """Every model in use in the overseen environments, or with a plan, and its fallback."""

    as_of: dt.datetime
    models: tuple[ModelFallbacks, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready rendering."""
        return {"as_of": self.as_of, "models": [m.as_dict() for m in self.models]}


# -- reading -------------------------------------------------------------------------------------------------------


def _events(ctx: Context, plan_id: str | None = None, con: Any = None) -> list[dict[str, Any]]:
    return ctx.catalog.lifecycle_rows("fallback_events", {"plan_id": plan_id} if plan_id else None, con=con)


def _replayed(row: dict[str, Any], events: Sequence[dict[str, Any]], person: Callable[[str], str]) -> FallbackPlan:
    """A plan with its status from its events (approvals by distinct people, a rejection ends it)."""
    plan = FallbackPlan(**row)
    mine = [e for e in events if e["plan_id"] == plan.plan_id]
    if any(e["kind"] == "reject" for e in mine):
        return _replace(plan, status="rejected")
    approvers: dict[str, dict[str, Any]] = {}
    for e in mine:
        if e["kind"] == "approve":
            approvers.setdefault(person(e["actor"]), e)
    if len(approvers) >= plan.approvals_required:
        last = max(e["happened_at"] for e in approvers.values())
        return _replace(plan, status="approved", approvers=tuple(e["actor"] for e in approvers.values()),
                        approved_at=last)
    return _replace(plan, approvers=tuple(e["actor"] for e in approvers.values()))


def _replace(plan: FallbackPlan, **changes: Any) -> FallbackPlan:
    import dataclasses

    return dataclasses.replace(plan, **changes)


def plans(ctx: Context, *, model: str | None = None, environment: str | None = None) -> list[FallbackPlan]:
    """Every plan (of one model / environment), oldest first, an approved one superseded by a newer approval."""
    return _plans(ctx.settings, ctx.catalog, model, environment)


def _plans(settings: Settings, catalog: Catalog, model: str | None = None,
           environment: str | None = None) -> list[FallbackPlan]:
    where = {k: v for k, v in (("model", model), ("environment", environment)) if v}
    rows = catalog.lifecycle_rows("fallback_plans", where)
    events = catalog.lifecycle_rows("fallback_events")
    out = [_replayed(r, events, settings.person) for r in rows]
    newest: dict[tuple[str, str], FallbackPlan] = {}
    for p in out:
        key = (p.model, p.environment)
        if p.status == "approved" and (key not in newest or p.approved_at > newest[key].approved_at):
            newest[key] = p
    return [_replace(p, status="superseded") if p.status == "approved" and newest[(p.model, p.environment)] is not p
            else p for p in out]


def overdue_reviews(settings: Settings, catalog: Catalog, now: dt.datetime) -> list[tuple[FallbackPlan, dict[str, Any]]]:
    """Emergency executions whose review after the fact is overdue on ``now`` (what ``countersign notify`` tells)."""
    events = catalog.lifecycle_rows("fallback_events")
    reviewed = {(e["detail"] or {}).get("execution") for e in events if e["kind"] == "review"}
    by_id = {p.plan_id: p for p in _plans(settings, catalog)}
    return [(by_id[e["plan_id"]], e) for e in events
            if e["kind"] == "execute" and e["outcome"] == "executed" and e["event_id"] not in reviewed
            and e["review_due"] is not None and now > e["review_due"] and e["plan_id"] in by_id]


def get_plan(ctx: Context, plan_id: str) -> FallbackPlan:
    """The plan ``plan_id`` with its state."""
    found = next((p for p in plans(ctx) if p.plan_id == plan_id), None)
    if found is None:
        raise NotFound(f"unknown fallback plan {plan_id!r} (list them with 'countersign fallback-plan list')")
    return found


def active_plan(ctx: Context, model: str, environment: str) -> FallbackPlan | None:
    """The approved plan in force for ``model`` in ``environment`` (the newest approved), or None."""
    return next((p for p in plans(ctx, model=model, environment=environment) if p.status == "approved"), None)


def _in_use(ctx: Context, model: str, environment: str) -> list[dict[str, Any]]:
    """The inventory rows of ``model``'s versions in use in ``environment`` (serving, or holding its label)."""
    rows = ctx.catalog.inventory_rows(InventoryFilter(model=model, environments=(environment,)),
                                      environment_order=ctx.settings.environments.order)
    return [r for r, f in zip(rows, row_flags(ctx.settings, ctx.catalog, rows), strict=True) if f.in_use]


def _rehearsal(row: dict[str, Any]) -> Rehearsal:
    checks = tuple(Check(**c) for c in (row["detail"] or {}).get("checks", ()))
    return Rehearsal(row["event_id"], row["plan_id"], row["actor"], row["happened_at"], checks)


def _execution(row: dict[str, Any], plan: FallbackPlan, reviews: dict[str, dict[str, Any]],
               now: dt.datetime) -> FallbackExecution:
    detail = row["detail"] or {}
    review = reviews.get(row["event_id"])
    status = "reviewed" if review else "overdue" if row["review_due"] and now > row["review_due"] else "due"
    return FallbackExecution(row["event_id"], plan.plan_id, plan.model, plan.environment, row["actor"],
                             row["happened_at"], row["outcome"], row["comment"] or "", detail, row["review_due"],
                             True, review["actor"] if review else None, review["happened_at"] if review else None,
                             review["comment"] if review else None, status)


def register(ctx: Context, *, model: str | None = None, now: dt.datetime | None = None) -> FallbackRegister:
    """The fallback register: each model in use in the overseen environments (or with a plan), its active plan,
    pending plans, rehearsals and emergency executions with their reviews (needs "view")."""
    from governance.oversight import oversight_environments

    require(ctx.identity, "view")
    moment = now or utcnow()
    every = plans(ctx, model=model)
    keys = {(p.model, p.environment) for p in every}
    inv = ctx.catalog.inventory_rows(InventoryFilter(model=model, environments=oversight_environments(ctx.settings)),
                                     environment_order=ctx.settings.environments.order)
    for r, f in zip(inv, row_flags(ctx.settings, ctx.catalog, inv), strict=True):
        if f.in_use:
            keys.add((r["model"], r["environment"]))
    events = _events(ctx)
    reviews = {(e["detail"] or {}).get("execution"): e for e in events if e["kind"] == "review"}
    rows = []
    for m, env in sorted(keys):
        mine = [p for p in every if (p.model, p.environment) == (m, env)]
        ids = {p.plan_id: p for p in mine}
        tier_name, _ = model_tier(ctx.catalog, ctx.settings, m)
        rows.append(ModelFallbacks(
            m, env, tuple(r["version_id"] for r in _in_use(ctx, m, env)), tier_name,
            next((p for p in mine if p.status == "approved"), None),
            tuple(p for p in mine if p.status == "proposed"),
            tuple(_rehearsal(e) for e in events if e["kind"] == "rehearse" and e["plan_id"] in ids),
            tuple(sorted((_execution(e, ids[e["plan_id"]], reviews, moment) for e in events
                          if e["kind"] == "execute" and e["plan_id"] in ids), key=lambda x: x.executed_at,
                         reverse=True))))
    return FallbackRegister(moment, tuple(rows))


# -- proposing and deciding -------------------------------------------------------------------------------------


def _fallback_version(ctx: Context, model: str, environment: str, kind: str, version_id: str | None,
                      in_use: Sequence[str]) -> Version | None:
    """The version a plan falls back to, checked: in the environment, approved, not the one in use."""
    if kind == "switch_off":
        return None
    if not version_id:
        raise InputError(f"a {kind} plan names the version to fall back to (an approved version in {environment})")
    version = ctx.catalog.version(version_id)
    if version.version_id in in_use:
        raise InputError(f"{version_id} is the version in use in {environment}: a fallback is another version")
    if kind == "version" and version.model != model:
        raise InputError(f"{version_id} is not a version of {model}; name another model's version as a challenger")
    if version.environment != environment:
        raise InputError(f"{version_id} is in {version.environment}, not {environment}: a fallback must already be "
                         "where it takes over (promote it there first)")
    if version.approval_status != "Approved":
        raise InputError(f"{version_id} is {version.approval_status} in its registry; a fallback must be Approved")
    return version


def propose(ctx: Context, model: str, environment: str, kind: str, reason: str, *,
            fallback_version: str | None = None, business_process: str | None = None,
            now: dt.datetime | None = None, connectors: ConnectorFactory | None = None) -> FallbackPlan:
    """Propose the fallback of ``model`` in ``environment``; the fallback's artifact digest is bound now."""
    require(ctx.identity, "propose_fallback")
    if kind not in KINDS:
        raise InputError(f"unknown fallback kind {kind!r}: choose one of {', '.join(KINDS)}")
    reason = required_text(reason, "a reason for the fallback plan")
    in_use = [r["version_id"] for r in _in_use(ctx, model, environment)]
    if not in_use:
        raise InputError(f"no version of {model} is in use in {environment}: a fallback plan protects a version "
                         "that serves (see 'countersign due')")
    process = None
    if kind == "switch_off":
        process = required_text(business_process, "a switch-off names the business process that takes over", minimum=10)
    version = _fallback_version(ctx, model, environment, kind, fallback_version, in_use)
    digest = None
    if version is not None:
        from governance.promotion import observe_artifact

        observed = observe_artifact(_factory(ctx, connectors), version)
        if observed.sha256 is None:
            raise ConflictError(f"cannot plan a fallback to {version.version_id}: its artifact cannot be read "
                                f"({observed.problem}), and an approved fallback binds to its bytes")
        digest = observed.sha256
    tier_name, tier = model_tier(ctx.catalog, ctx.settings, model)
    moment = now or utcnow()
    plan_id = new_dated_id("FB", moment)
    row = {"plan_id": plan_id, "model": model, "environment": environment, "kind": kind, "protects": in_use[0],
           "fallback_version_id": version.version_id if version else None, "fallback_sha256": digest,
           "business_process": process, "reason": reason, "tier": tier_name,
           "approvals_required": tier.approvals_required, "proposed_by": ctx.identity.email, "proposed_at": moment}
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the fallback plan for {model} in {environment}")
        entry = ledger.append(con, actor=ctx.identity.email, action="fallback.propose",
                              subject=fallback_subject(plan_id), at=moment,
                              payload={k: v for k, v in row.items() if k not in ("plan_id", "proposed_at")})
        ctx.catalog.insert_lifecycle_row(con, "fallback_plans", {**row, "ledger_hash": entry.hash})
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    return get_plan(ctx, plan_id)


def _ledger_word(con: Any, plan: FallbackPlan, person: Callable[[str], str]) -> tuple[set[str], bool]:
    """The people who approved ``plan`` and whether it was rejected, as its ledger entries record them."""
    entries = ledger.entries_on(con, fallback_subject(plan.plan_id))
    if not any(e.action == "fallback.propose" for e in entries):
        raise ConflictError(f"fallback plan {plan.plan_id} has no fallback.propose entry in the ledger: the catalog "
                            "row was not written by Countersign; run 'countersign ledger verify'")
    return ({person(e.actor) for e in entries if e.action == "fallback.approve"},
            any(e.action == "fallback.reject" for e in entries))


def _decide(ctx: Context, plan_id: str, kind: str, comment: str, now: dt.datetime | None) -> FallbackPlan:
    """Record an approval or a rejection of a proposed plan (four eyes, counted from the ledger)."""
    require(ctx.identity, f"{kind}_fallback" if kind == "approve" else "approve_fallback")
    comment = required_text(comment, f"a comment on the {kind}")
    plan = get_plan(ctx, plan_id)
    person = ctx.settings.person
    if plan.status != "proposed":
        raise ConflictError(f"fallback plan {plan_id} is {plan.status}; only a proposed plan can be decided")
    if person(ctx.identity.email) == person(plan.proposed_by):
        raise AccessDenied(f"{ctx.identity.email} proposed fallback plan {plan_id} and may not decide it (four eyes)")
    moment = now or utcnow()
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the {kind} of fallback plan {plan_id}")
        approvers, rejected = _ledger_word(con, plan, person)
        if rejected:
            raise ConflictError(f"fallback plan {plan_id} was rejected (its ledger says so)")
        if person(ctx.identity.email) in approvers:
            raise AccessDenied(f"{ctx.identity.email} already approved fallback plan {plan_id}")
        event_id = new_event_id("FBE")
        payload = {"event_id": event_id, "comment": comment, "approval_number": len(approvers) + 1,
                   "approvals_required": plan.approvals_required, "fallback_sha256": plan.fallback_sha256}
        entry = ledger.append(con, actor=ctx.identity.email, action=f"fallback.{kind}",
                              subject=fallback_subject(plan_id), at=moment, payload=payload)
        ctx.catalog.insert_lifecycle_row(con, "fallback_events", {
            "event_id": event_id, "plan_id": plan_id, "kind": kind, "actor": ctx.identity.email,
            "happened_at": moment, "outcome": kind + "d" if kind == "approve" else "rejected", "comment": comment,
            "detail": payload, "ledger_hash": entry.hash})
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    return get_plan(ctx, plan_id)


def approve_plan(ctx: Context, plan_id: str, comment: str, *, now: dt.datetime | None = None) -> FallbackPlan:
    """A risk officer's approval of a proposed plan (not the proposer's; distinct approvers per the tier)."""
    return _decide(ctx, plan_id, "approve", comment, now)


def reject_plan(ctx: Context, plan_id: str, comment: str, *, now: dt.datetime | None = None) -> FallbackPlan:
    """A risk officer's rejection of a proposed plan."""
    return _decide(ctx, plan_id, "reject", comment, now)


# -- rehearsing ---------------------------------------------------------------------------------------------------


def _factory(ctx: Context, given: ConnectorFactory | None) -> ConnectorFactory:
    if given is not None:
        return given
    from governance.sources import connector_for

    return lambda name: connector_for(ctx.workspace, ctx.settings, name)


def _short(digest: str | None) -> str:
    return f"{digest[:12]}…" if digest else "none"


def _checks(ctx: Context, plan: FallbackPlan, factory: ConnectorFactory) -> tuple[Check, ...]:
    """Whether the plan could execute now: the fallback's bytes are the approved ones, and the registry that would be
    switched is reachable through a connector that can write approvals."""
    from connectors.base import Promoter
    from governance.promotion import observe_artifact

    checks = []
    if plan.kind != "switch_off":
        seen = observe_artifact(factory, ctx.catalog.version(plan.fallback_version_id or ""), fresh=True)
        if seen.sha256 is None:
            checks.append(Check("fallback artifact", False, f"cannot be read: {seen.problem}"))
        elif seen.sha256 != plan.fallback_sha256:
            checks.append(Check("fallback artifact", False, f"bytes differ from the ones approved: sha256 "
                                f"{_short(plan.fallback_sha256)} approved, {_short(seen.sha256)} now"))
        else:
            checks.append(Check("fallback artifact", True, f"sha256 {_short(seen.sha256)} as approved"))
    targets = [r["version_id"] for r in _in_use(ctx, plan.model, plan.environment)] or [plan.protects or ""]
    for vid in targets:
        try:
            version = ctx.catalog.version(vid)
            conn = factory(version.account)
            seen = observe_artifact(factory, version)
        except CountersignError as exc:
            checks.append(Check("target registry", False, f"{vid}: {redact(str(exc), ctx.settings.secret_values())}"))
            continue
        ok = seen.sha256 is not None and isinstance(conn, Promoter)
        why = (f"account {version.account} reachable, its connector can write approvals" if ok else
               seen.problem or f"the connector of account {version.account} cannot write approvals")
        checks.append(Check("target registry", ok, f"{vid}: {why}"))
    return tuple(checks)


def rehearse(ctx: Context, plan_id: str, *, now: dt.datetime | None = None,
             connectors: ConnectorFactory | None = None) -> Rehearsal:
    """A dry run of an approved or proposed plan, recorded with its outcome; nothing is written to a registry."""
    require(ctx.identity, "rehearse_fallback")
    plan = get_plan(ctx, plan_id)
    if plan.status in ("rejected", "superseded"):
        raise ConflictError(f"fallback plan {plan_id} is {plan.status}; rehearse the plan in force")
    checks = _checks(ctx, plan, _factory(ctx, connectors))
    moment = now or utcnow()
    event_id = new_event_id("FBE")
    detail = {"event_id": event_id, "checks": [c.__dict__ for c in checks], "passed": all(c.passed for c in checks)}
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the rehearsal of fallback plan {plan_id}")
        entry = ledger.append(con, actor=ctx.identity.email, action="fallback.rehearse",
                              subject=fallback_subject(plan_id), at=moment, payload=detail)
        ctx.catalog.insert_lifecycle_row(con, "fallback_events", {
            "event_id": event_id, "plan_id": plan_id, "kind": "rehearse", "actor": ctx.identity.email,
            "happened_at": moment, "outcome": "passed" if detail["passed"] else "failed", "detail": detail,
            "ledger_hash": entry.hash})
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    return Rehearsal(event_id, plan_id, ctx.identity.email, moment, checks)


# -- executing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Emergency:
    """One emergency execution under way."""

    ctx: Context
    plan: FallbackPlan
    event_id: str
    reason: str
    at: dt.datetime
    review_due: dt.datetime
    in_use: tuple[str, ...]
    factory: ConnectorFactory


def _refuse_changed(ctx: Context, plan: FallbackPlan, factory: ConnectorFactory, at: dt.datetime) -> None:
    """Refuse (and record) an execution whose fallback no longer has the bytes the plan's approval bound."""
    from governance.promotion import observe_artifact

    seen = observe_artifact(factory, ctx.catalog.version(plan.fallback_version_id or ""), fresh=True)
    if seen.sha256 == plan.fallback_sha256:
        return
    exc = ArtifactMismatch(plan.fallback_sha256, seen.sha256, f"the fallback of {plan.model} in {plan.environment} "
                           f"refused: the artifact of {plan.fallback_version_id}",
                           remedy="Its bytes were replaced since the plan was approved; nothing was written to a "
                                  "registry. Propose and approve a new plan")
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, "recording the refused fallback")
        ledger.append(con, actor=ctx.identity.email, action="fallback.refused", subject=fallback_subject(plan.plan_id),
                      at=at, payload={"reason": "artifact changed", "expected_sha256": plan.fallback_sha256,
                                      "found_sha256": seen.sha256, "problem": seen.problem})
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    raise exc


def _switch(run: _Emergency, start_hash: str) -> list[str]:
    """Carry the plan out through the connectors: approve the fallback (or move the label to it), reject the
    versions in use. Returns what was done, in words."""
    from governance.binding import label_noun
    from governance.promotion import promoter_of, record_of

    ctx, plan = run.ctx, run.plan
    words = (f"Fallback {plan.plan_id} executed as an emergency by {ctx.identity.email} ({run.event_id}): "
             f"{run.reason}")[:4000]
    done = []
    if plan.kind != "switch_off":
        version = ctx.catalog.version(plan.fallback_version_id or "")
        account = ctx.settings.account(version.account)
        conn = run.factory(version.account)
        if plan.environment != account.environment:  # the environment is a registry label here: move it
            promoter_of(conn, version.account).register_copy(record_of(version), conn, PromotionRef(
                request_id=run.event_id, ledger_hash=start_hash, source_account=version.account,
                source_ref=version.source_ref, approved_by=(ctx.identity.email,), environment=plan.environment,
                artifact_sha256=plan.fallback_sha256))
            done.append(f"moved the {label_noun(account)} of {plan.environment} to {version.version_id}")
        else:
            promoter_of(conn, version.account).set_approval(record_of(version), "Approved", words)
            done.append(f"{version.version_id} set Approved")
    for vid in run.in_use:
        if vid == plan.fallback_version_id:
            continue
        version = ctx.catalog.version(vid)
        promoter_of(run.factory(version.account), version.account).set_approval(record_of(version), "Rejected", words)
        done.append(f"{vid} set Rejected")
    return done


def execute(ctx: Context, model: str, environment: str, reason: str, *, now: dt.datetime | None = None,
            connectors: ConnectorFactory | None = None, refresh: bool = True) -> FallbackExecution:
    """Execute the approved fallback of ``model`` in ``environment`` now, as an emergency: one risk officer, at once,
    with a review after the fact due within the tier's ``fallback_review_days``."""
    require(ctx.identity, "execute_fallback")
    reason = required_text(reason, "a reason for the emergency fallback")
    plan = active_plan(ctx, model, environment)
    if plan is None:
        raise ConflictError(f"no approved fallback for {model} in {environment}: propose one ('countersign "
                            "fallback-plan propose') and have it approved before an emergency needs it")
    factory = _factory(ctx, connectors)
    moment = now or utcnow()
    if plan.kind != "switch_off":
        _refuse_changed(ctx, plan, factory, moment)
    tier = ctx.settings.tier(plan.tier)
    in_use = tuple(r["version_id"] for r in _in_use(ctx, model, environment)) or ((plan.protects,) if plan.protects
                                                                                 else ())
    run = _Emergency(ctx, plan, new_event_id("FBE"), reason, moment,
                     moment + dt.timedelta(days=tier.fallback_review_days), in_use, factory)
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the fallback of {model} in {environment}")
        approvers, rejected = _ledger_word(con, plan, ctx.settings.person)
        if rejected or len(approvers) < plan.approvals_required:
            raise ConflictError(f"fallback plan {plan.plan_id}: the ledger records {len(approvers)} of "
                                f"{plan.approvals_required} approvals{' and a rejection' if rejected else ''}; "
                                "run 'countersign ledger verify'")
        start = ledger.append(con, actor=ctx.identity.email, action="fallback.execute",
                              subject=fallback_subject(plan.plan_id), at=moment,
                              payload={"event_id": run.event_id, "emergency": True, "approver": ctx.identity.email,
                                       "reason": reason, "kind": plan.kind, "in_use": list(in_use),
                                       "fallback_version_id": plan.fallback_version_id,
                                       "review_due": run.review_due})
    return _finish(run, start.hash, refresh)


def _finish(run: _Emergency, start_hash: str, refresh: bool) -> FallbackExecution:
    """Switch through the connectors and record the outcome (a failure too, with what was done before it)."""
    ctx, plan = run.ctx, run.plan
    detail: dict[str, Any] = {"event_id": run.event_id, "kind": plan.kind, "in_use": list(run.in_use),
                              "fallback_version_id": plan.fallback_version_id,
                              "business_process": plan.business_process}
    try:
        detail["actions"] = _switch(run, start_hash)
        outcome, action = "executed", "fallback.executed"
        if plan.kind != "switch_off":  # Countersign now vouches for the fallback's bytes where it serves
            detail["binds"] = {"version_id": plan.fallback_version_id, "environment": plan.environment,
                               "artifact_sha256": plan.fallback_sha256}
    except Exception as exc:  # a failed switch is recorded (and can be retried); a crash is not caught
        message = str(exc) if isinstance(exc, CountersignError) else f"{type(exc).__name__}: {exc}"
        detail["error"] = redact(message, ctx.settings.secret_values())[:2000]
        outcome, action = "failed", "fallback.failed"
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"recording the fallback of {plan.model}")
        entry = ledger.append(con, actor=ctx.identity.email, action=action, subject=fallback_subject(plan.plan_id),
                              at=run.at, payload=detail)
        ctx.catalog.insert_lifecycle_row(con, "fallback_events", {
            "event_id": run.event_id, "plan_id": plan.plan_id, "kind": "execute", "actor": ctx.identity.email,
            "happened_at": run.at, "outcome": outcome, "comment": run.reason, "detail": detail,
            "review_due": run.review_due if outcome == "executed" else None, "ledger_hash": entry.hash})
    if refresh and outcome == "executed":
        from governance.execution import refresh_accounts

        accounts = {ctx.catalog.version(v).account for v in (*run.in_use, plan.fallback_version_id) if v}
        refresh_accounts(ctx, tuple(sorted(accounts)))
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    if outcome == "failed":
        raise ConflictError(f"the fallback of {plan.model} in {plan.environment} failed after "
                            f"{len(detail.get('actions', []))} step(s): {detail['error']}; it was recorded as "
                            f"{run.event_id}; fix the cause and run it again (each step is idempotent)")
    return _execution({"event_id": run.event_id, "actor": ctx.identity.email, "happened_at": run.at,
                       "outcome": outcome, "comment": run.reason, "detail": detail, "review_due": run.review_due},
                      plan, {}, run.at)


def review_execution(ctx: Context, event_id: str, comment: str, *,
                     now: dt.datetime | None = None) -> FallbackExecution:
    """The review after the fact of an emergency execution, by a risk officer who did not execute it."""
    require(ctx.identity, "review_fallback")
    comment = required_text(comment, "the review's conclusion", minimum=5)
    row = next((e for e in _events(ctx) if e["event_id"] == event_id and e["kind"] == "execute"), None)
    if row is None:
        raise NotFound(f"unknown fallback execution {event_id!r} (see 'countersign fallback-plan list')")
    if ctx.settings.person(row["actor"]) == ctx.settings.person(ctx.identity.email):
        raise AccessDenied(f"{ctx.identity.email} executed it: the review after the fact is another risk officer's "
                           "(four eyes)")
    plan = get_plan(ctx, row["plan_id"])
    if any((e["detail"] or {}).get("execution") == event_id
           for e in _events(ctx, plan.plan_id) if e["kind"] == "review"):
        raise ConflictError(f"fallback execution {event_id} was reviewed already")
    moment = now or utcnow()
    review_id = new_event_id("FBE")
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the review of fallback execution {event_id}")
        entry = ledger.append(con, actor=ctx.identity.email, action="fallback.review",
                              subject=fallback_subject(plan.plan_id), at=moment,
                              payload={"event_id": review_id, "execution": event_id, "comment": comment})
        ctx.catalog.insert_lifecycle_row(con, "fallback_events", {
            "event_id": review_id, "plan_id": plan.plan_id, "kind": "review", "actor": ctx.identity.email,
            "happened_at": moment, "outcome": "reviewed", "comment": comment, "detail": {"execution": event_id},
            "ledger_hash": entry.hash})
    ledger.seal(ctx.workspace, ctx.catalog, by=ctx.identity.email)
    reviewed = {event_id: {"actor": ctx.identity.email, "happened_at": moment, "comment": comment}}
    return _execution(row, plan, reviewed, moment)
