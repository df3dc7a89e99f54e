"""Promotion requests: ask, decide (four eyes, N approvers, risk acceptance), execute through the connector.

Life of a request::

    pending ──approve×N──▶ approved ──execute──▶ executing ──▶ executed
       │                      │                     │
       ├──reject──▶ rejected  └──cancel──▶ cancelled └──error──▶ failed ──execute (retry)──▶ executing

Every transition happens in one catalog transaction that first re-reads the request's status (compare and set),
so two officers approving at the same moment produce one decision, and two executors produce one execution.
Each transition appends its ledger entry in that same transaction and then seals a signed checkpoint.

Execution is a resumable state machine recorded in ``execution_state``:
``queued → source_approved → target_registered → done``. Each step is idempotent on its own (setting an approval
twice is harmless; ``register_copy`` finds the copy it made by request id; a copy already in the target account
from the same source version is adopted), so a crash at any point followed by a retry ends with exactly one
target version. A process that died mid-step leaves ``executing``; a retry takes over once the lease expired or
when asked to (``takeover=True``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from connectors.base import Connector, Promoter, PromotionRef, VersionRecord
from core.clock import utcnow
from core.credentials import redact
from core.errors import AccessDenied, ConflictError, ConnectorError, CountersignError, InputError, NotFound
from core.ids import new_decision_id, new_request_id, version_id_for
from governance import ledger
from governance.catalog import Catalog, Version
from governance.catalog.signoff import (
    Decision,
    Request,
    approvers_of,
    insert_decision,
    insert_request,
    open_request_of_version,
    request_state,
    update_request,
)
from governance.config import Settings, Workspace
from governance.identity import Identity, require
from governance.policy import (
    GATES,
    Checklist,
    EvidenceLookup,
    GateResult,
    evaluate,
    model_tier,
    policy_version,
    promotion_path,
)
from governance.snapshot import acceptance_entry, snapshot_payload

if TYPE_CHECKING:
    import pandas as pd

OPEN_STATUSES = ("pending", "approved", "executing", "failed")
FINAL_STATUSES = ("executed", "rejected", "cancelled")
STEPS = ("queued", "source_approved", "target_registered", "done")
LEASE = dt.timedelta(minutes=10)
MAX_ACCEPTANCE = dt.timedelta(days=366)

ConnectorFactory = Callable[[str], Connector]
"""account name → its connector (default: the configured one)."""


@dataclass(frozen=True)
class _Superseded(ConflictError):
    """Another executor took the request over (or it was cancelled) while this one ran a step."""


@dataclass(frozen=True)
class RiskAcceptance:
    """A risk officer's acceptance of failing or missing gates: which, why, until when."""

    gates: tuple[str, ...]
    justification: str
    expires_at: dt.datetime
    # when the evidence the accepted gates lack is due (default: the expiry); past it without newer evidence of
    # that kind, the acceptance shows as overdue
    follow_up: dt.datetime | None = None


# -- reading --------------------------------------------------------------------------------------------------

def _now() -> dt.datetime:
    # requests and decisions are dated to the second
    return utcnow().replace(microsecond=0)


def get_request(catalog: Catalog, request_id: str) -> Request:
    """The request ``request_id`` with its decisions, oldest first."""
    request = catalog.request(request_id)
    if request is None:
        raise NotFound(f"unknown promotion request {request_id!r} (list them with 'countersign requests')")
    return request


def list_requests(catalog: Catalog, *, statuses: tuple[str, ...] = (), model: str | None = None) -> pd.DataFrame:
    """Requests (newest first) with their approval count, for the queue."""
    return catalog.request_queue(statuses=statuses, model=model)


def four_eyes_problem(email: str, request: Request, version: Version) -> str | None:
    """Why ``email`` may not approve ``request`` under four eyes, or None when they may."""
    who = email.lower()
    if who == request.requester.lower():
        return f"{email} requested this promotion and may not approve it (four eyes)"
    if version.created_by and who == version.created_by.lower():
        return f"{email} created version {version.version_id} and may not approve its promotion (four eyes)"
    if who in {a.lower() for a in request.approvers}:
        return f"{email} already approved this request; tier needs {request.approvals_required} distinct approvers"
    return None


def blocking_gates(request: Request, checklist: Checklist, now: dt.datetime) -> tuple[GateResult, ...]:
    """The gates that block approving ``request`` now: failing or missing, and not covered by a risk acceptance
    that is still in force at ``now`` (an expired acceptance covers nothing). The one rule the page and approval use.
    """
    covered = {g for d in request.risk_acceptances if not d.expired(now) for g in d.payload.get("gates", [])}
    return tuple(r for r in checklist.blocking if r.gate not in covered)


def allowed_actions(identity: Identity, request: Request, version: Version) -> frozenset[str]:
    """What ``identity`` may do to ``request`` now (the pages show only these; governance checks again)."""
    out: set[str] = set()
    if request.status == "pending":
        if identity.can("approve") and four_eyes_problem(identity.email, request, version) is None:
            out.add("approve")
            if identity.can("accept_risk"):
                out.add("accept_risk")
        # whoever approved already has said their word: nothing more is offered to them (a change of mind is a
        # conversation with the requester, who may cancel)
        if identity.can("reject") and identity.email.lower() not in {a.lower() for a in request.approvers}:
            out.add("reject")
    if request.status in ("pending", "approved", "failed") and _may_cancel(identity, request):
        out.add("cancel")
    if request.status in ("approved", "failed", "executing") and identity.can("execute"):
        out.add("execute")
    return frozenset(out)


def _may_cancel(identity: Identity, request: Request) -> bool:
    if not identity.can("cancel_request"):
        return False
    return "admin" in identity.roles or identity.email.lower() == request.requester.lower()


# -- writing --------------------------------------------------------------------------------------------------


def _text(value: str | None, what: str, *, minimum: int = 1) -> str:
    text = (value or "").strip()
    if len(text) < minimum:
        raise InputError(f"{what} is required" + (f" (at least {minimum} characters)" if minimum > 1 else ""))
    return text


def _status_in_txn(con: Any, request_id: str) -> tuple[str, str | None, dt.datetime | None, dict[str, Any]]:
    state = request_state(con, request_id, lock=True)  # compare and set, also across portal replicas
    if state is None:
        raise NotFound(f"unknown promotion request {request_id!r}")
    return state.status, state.execution_state, state.updated_at, state.payload


def _set(con: Any, request_id: str, now: dt.datetime, **columns: Any) -> None:
    update_request(con, request_id, now, **columns)


def _add_decision(con: Any, request_id: str, actor: str, kind: str, comment: str | None, now: dt.datetime,
                  expires_at: dt.datetime | None, payload: dict[str, Any], entry: ledger.Entry) -> str:
    decision_id = new_decision_id()
    insert_decision(con, Decision(decision_id, request_id, actor, kind, comment, now, expires_at, payload, entry.hash))
    return decision_id


def _subject(request_id: str) -> str:
    return f"request:{request_id}"


def create_request(
    workspace: Workspace,
    settings: Settings,
    catalog: Catalog,
    actor: Identity,
    version_id: str,
    to_env: str,
    reason: str,
    *,
    target_account: str | None = None,
    evidence: EvidenceLookup | None = None,
    now: dt.datetime | None = None,
) -> Request:
    """Ask to promote ``version_id`` into ``to_env``; the gate checklist at this moment is recorded with it."""
    require(actor, "request_promotion")
    reason = _text(reason, "a reason for the promotion")
    version = catalog.version(version_id)
    tier_name, tier = model_tier(catalog, settings, version.model)
    path = promotion_path(settings, tier_name, tier, version.environment, to_env, subject=version_id)
    source_account = settings.account(version.account)
    # an account holds to_env as its own environment, or through registry labels (an MLflow alias, a ZenML stage
    # mapped to it): then the promotion moves the label, possibly within the source account itself
    candidates = [a for a in settings.accounts if to_env in a.environments and a.connector == source_account.connector]
    if target_account:
        target = settings.account(target_account)
        if to_env not in target.environments:
            raise InputError(f"account {target_account} is in {', '.join(target.environments)}, not {to_env}")
        if target.connector != source_account.connector:
            raise InputError(f"account {target_account} is a {target.connector} registry; {version_id} lives in a "
                             f"{source_account.connector} registry and can only be promoted to one of that kind")
    elif len(candidates) == 1:
        target = candidates[0]
    elif not candidates:
        raise InputError(f"no {source_account.connector} account in {to_env} to promote {version_id} into")
    else:
        raise InputError(f"several accounts in {to_env} could receive {version_id} "
                         f"({', '.join(a.name for a in candidates)}): name one with target_account")
    moment = now or _now()
    checklist = evaluate(catalog, settings, version_id, to_env, evidence=evidence, now=moment)
    request_id = new_request_id(moment)
    payload = {
        "approvals_required": path.approvals_required,
        "tier_approvals_required": checklist.approvals_required,
        "skip": path.skip,
        "path": path.describe(),
        "tier": checklist.tier_name,
        "artifact_sha256": version.artifact_sha256,
        "source_ref": version.source_ref,
        "created_by": version.created_by,
        "checklist": checklist.as_dict(),
        "attempts": 0,
    }
    with catalog.transaction() as con:
        dup = open_request_of_version(con, version_id, OPEN_STATUSES)
        if dup is not None:
            raise ConflictError(
                f"{version_id} already has an open request: {dup.request_id} to {dup.to_env} ({dup.target_account}), "
                f"{dup.status}. One open request per version: wait for it to finish, or cancel it first"
            )
        entry = ledger.append(con, actor=actor.email, action="request.create", subject=_subject(request_id), at=moment,
                              payload={"version_id": version_id, "from_env": version.environment, "to_env": to_env,
                                       "target_account": target.name, "reason": reason,
                                       "artifact_sha256": version.artifact_sha256, "tier": checklist.tier_name,
                                       "approvals_required": path.approvals_required, "skip": path.skip,
                                       "gates": {r.gate: r.status for r in checklist.results}})
        payload["ledger_hash"] = entry.hash
        insert_request(con, Request(request_id, version_id, version.model, version.environment, to_env, target.name,
                                    actor.email, reason, "pending", moment, moment, None, None, None, payload))
    ledger.seal(workspace, catalog, by=actor.email)
    return get_request(catalog, request_id)


def approve(
    workspace: Workspace,
    settings: Settings,
    catalog: Catalog,
    actor: Identity,
    request_id: str,
    comment: str,
    *,
    risk_acceptance: RiskAcceptance | None = None,
    evidence: EvidenceLookup | None = None,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> Request:
    """Approve a pending request (four eyes); failing gates need a risk acceptance. Returns the request.

    ``dry_run`` makes every check and raises what the approval would raise, but writes nothing (the page asks for a
    confirmation only of an approval that would go through)."""
    require(actor, "approve")
    comment = _text(comment, "an approval comment")
    moment = now or _now()
    request = get_request(catalog, request_id)
    if request.status != "pending":
        raise ConflictError(f"request {request_id} is {request.status}; only a pending request can be approved")
    version = catalog.version(request.version_id)
    problem = four_eyes_problem(actor.email, request, version)
    if problem:
        raise AccessDenied(problem)
    _same_artifact(request, version)
    checklist = evaluate(catalog, settings, request.version_id, request.to_env, evidence=evidence, now=moment)
    blocking = list(blocking_gates(request, checklist, moment))
    if risk_acceptance is not None:
        require(actor, "accept_risk")
        _check_acceptance(risk_acceptance, moment)
        unknown = set(risk_acceptance.gates) - {r.gate for r in checklist.blocking}
        if unknown:
            raise InputError(f"risk acceptance names gates that do not block: {', '.join(sorted(unknown))}")
        blocking = [r for r in blocking if r.gate not in risk_acceptance.gates]
    if blocking:
        text = "; ".join(f"{r.gate} {r.status}: {r.message}" for r in blocking)
        raise ConflictError(f"gates block approval of {request_id} ({text}). Reject it, or record a risk "
                            "acceptance with a justification and an expiry for these gates")
    if dry_run:
        return request
    with catalog.transaction() as con:
        status, _, _, payload = _status_in_txn(con, request_id)
        if status != "pending":
            raise ConflictError(f"request {request_id} is {status}; only a pending request can be approved")
        approvers = approvers_of(con, request_id)
        if actor.email.lower() in approvers:
            raise AccessDenied(f"{actor.email} already approved request {request_id}")
        acceptance_id = None
        in_force = [acceptance_entry(d.decision_id, d.actor, d.payload.get("gates", []), d.expires_at)
                    for d in request.risk_acceptances if not d.expired(moment)]
        if risk_acceptance is not None:
            acc = {"gates": sorted(risk_acceptance.gates), "justification": risk_acceptance.justification.strip(),
                   "expires_at": risk_acceptance.expires_at,
                   "follow_up": risk_acceptance.follow_up or risk_acceptance.expires_at,
                   "awaits": awaited_evidence(risk_acceptance.gates),
                   "results": [r.as_dict() for r in checklist.results if r.gate in risk_acceptance.gates]}
            entry = ledger.append(con, actor=actor.email, action="request.accept_risk",
                                  subject=_subject(request_id), payload=acc, at=moment)
            acceptance_id = _add_decision(con, request_id, actor.email, "risk_acceptance",
                                          risk_acceptance.justification.strip(), moment, risk_acceptance.expires_at,
                                          acc, entry)
            in_force.append(acceptance_entry(acceptance_id, actor.email, risk_acceptance.gates,
                                             risk_acceptance.expires_at))
        body = {"comment": comment, "version_id": request.version_id, "checklist": checklist.as_dict(),
                "risk_acceptance": acceptance_id, "approval_number": len(approvers) + 1,
                "approvals_required": request.approvals_required,
                "snapshot": snapshot_payload(checklist, in_force,
                                             policy_version(settings, checklist.tier_name, workspace.root))}
        entry = ledger.append(con, actor=actor.email, action="request.approve", subject=_subject(request_id),
                              payload={k: v for k, v in body.items() if k not in ("checklist", "snapshot")}
                              | {"gates": {r.gate: r.status for r in checklist.results},
                                 "evidence": [e.evidence_id for e in checklist.evidence],
                                 "policy_version": body["snapshot"]["policy_version"]}, at=moment)
        _add_decision(con, request_id, actor.email, "approve", comment, moment, None, body, entry)
        if len(approvers) + 1 >= request.approvals_required:
            payload["approval_ledger_hash"] = entry.hash
            ledger.append(con, actor=actor.email, action="request.approved", subject=_subject(request_id), at=moment,
                          payload={"approvers": sorted(approvers | {actor.email.lower()}),
                                   "approvals_required": request.approvals_required})
            _set(con, request_id, moment, status="approved", execution_state="queued", payload=payload)
        else:
            _set(con, request_id, moment)
    ledger.seal(workspace, catalog, by=actor.email)
    return get_request(catalog, request_id)


def _same_artifact(request: Request, version: Version) -> None:
    """Refuse to decide on or ship an artifact other than the one the request was made for."""
    asked = request.payload.get("artifact_sha256")
    if asked and version.artifact_sha256 and asked != version.artifact_sha256:
        raise ConflictError(
            f"the artifact of {version.version_id} changed since request {request.request_id} was made "
            f"(sha256 {asked[:12]}… then, {version.artifact_sha256[:12]}… now): cancel it and request again"
        )


def awaited_evidence(gates: Iterable[str]) -> dict[str, str]:
    """gate → the evidence kind a risk acceptance of that gate waits for (gates reading no evidence are left out)."""
    kinds = {g.name: g.evidence_kind for g in GATES}
    return {g: kinds[g] for g in sorted(gates) if kinds.get(g)}  # type: ignore[misc]


@dataclass(frozen=True)
class FollowUp:
    """The evidence one risk acceptance waits for: ``met`` once evidence of that kind newer than the acceptance
    exists (for the version or its promoted copy), ``overdue`` when the follow-up date passed without it."""

    decision_id: str
    actor: str
    gate: str
    kind: str
    accepted_at: dt.datetime
    due: dt.datetime
    status: Literal["waiting", "overdue", "met"]
    evidence_id: str | None = None

    def describe(self) -> str:
        """One line for people."""
        head = f"{self.gate} accepted by {self.actor} waits for new {self.kind} evidence by {self.due:%Y-%m-%d}"
        if self.status == "met":
            return f"{head}: met by {self.evidence_id}"
        return f"{head}: OVERDUE, no {self.kind} evidence since {self.accepted_at:%Y-%m-%d}" \
            if self.status == "overdue" else f"{head}: waiting"


def _when(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def follow_ups(catalog: Catalog, request: Request, now: dt.datetime | None = None) -> tuple[FollowUp, ...]:
    """The evidence each risk acceptance of ``request`` waits for, and whether it came, is awaited or is overdue."""
    from governance.analytics.evidence import UPLOAD_PREFIX  # heavy package: imported on first use

    moment = now or _now()
    versions = [request.version_id] + ([request.target_version_id] if request.target_version_id else [])
    out = []
    for d in request.risk_acceptances:
        due = _when(d.payload.get("follow_up")) or d.expires_at or d.created_at
        awaits = d.payload.get("awaits") or awaited_evidence(d.payload.get("gates", []))
        for gate, kind in sorted(awaits.items()):
            newer = catalog.newest_evidence_since(versions, kind, d.created_at, without_input_uri_prefix=UPLOAD_PREFIX)
            status: Literal["waiting", "overdue", "met"] = (
                "met" if newer is not None else "overdue" if moment >= due else "waiting")
            out.append(FollowUp(d.decision_id, d.actor, gate, kind, d.created_at, due, status,
                                newer.evidence_id if newer is not None else None))
    return tuple(out)


def _check_acceptance(acc: RiskAcceptance, now: dt.datetime) -> None:
    if not acc.gates:
        raise InputError("a risk acceptance must name the gates it accepts")
    _text(acc.justification, "a justification for the risk acceptance", minimum=20)
    expires = acc.expires_at
    if expires.tzinfo is not None:
        raise InputError("risk acceptance expiry must be a naive UTC date-time")
    if expires <= now:
        raise InputError(f"risk acceptance expiry {expires:%Y-%m-%d} is not in the future")
    if expires - now > MAX_ACCEPTANCE:
        raise InputError(f"a risk acceptance may last at most {MAX_ACCEPTANCE.days} days")
    if acc.follow_up is not None and not (now < acc.follow_up <= expires):
        raise InputError(f"the follow-up date {acc.follow_up:%Y-%m-%d} must lie after today and no later than the "
                         f"expiry {expires:%Y-%m-%d}")


def reject(workspace: Workspace, settings: Settings, catalog: Catalog, actor: Identity, request_id: str,
           comment: str, *, evidence: EvidenceLookup | None = None, now: dt.datetime | None = None) -> Request:
    """Reject a pending request with a mandatory comment."""
    require(actor, "reject")
    comment = _text(comment, "a rejection comment")
    moment = now or _now()
    request = get_request(catalog, request_id)
    checklist = evaluate(catalog, settings, request.version_id, request.to_env, evidence=evidence, now=moment)
    in_force = [acceptance_entry(d.decision_id, d.actor, d.payload.get("gates", []), d.expires_at)
                for d in request.risk_acceptances if not d.expired(moment)]
    snapshot = snapshot_payload(checklist, in_force, policy_version(settings, checklist.tier_name, workspace.root))
    with catalog.transaction() as con:
        status, _, _, _ = _status_in_txn(con, request_id)
        if status != "pending":
            raise ConflictError(f"request {request_id} is {status}; only a pending request can be rejected")
        entry = ledger.append(con, actor=actor.email, action="request.reject", subject=_subject(request_id),
                              payload={"comment": comment, "gates": {r.gate: r.status for r in checklist.results},
                                       "evidence": [e.evidence_id for e in checklist.evidence],
                                       "policy_version": snapshot["policy_version"]}, at=moment)
        _add_decision(con, request_id, actor.email, "reject", comment, moment, None,
                      {"comment": comment, "snapshot": snapshot}, entry)
        _set(con, request_id, moment, status="rejected")
    ledger.seal(workspace, catalog, by=actor.email)
    return get_request(catalog, request_id)


def cancel(workspace: Workspace, settings: Settings, catalog: Catalog, actor: Identity, request_id: str,
           comment: str = "", *, now: dt.datetime | None = None) -> Request:
    """Withdraw a request that has not executed (its requester, or an admin)."""
    require(actor, "cancel_request")
    request = get_request(catalog, request_id)
    if not _may_cancel(actor, request):
        raise AccessDenied(f"only the requester {request.requester} (or an admin) may cancel {request_id}")
    moment = now or _now()
    with catalog.transaction() as con:
        status, _, _, _ = _status_in_txn(con, request_id)
        if status not in ("pending", "approved", "failed"):
            raise ConflictError(f"request {request_id} is {status}; it can no longer be cancelled")
        entry = ledger.append(con, actor=actor.email, action="request.cancel", subject=_subject(request_id),
                              payload={"comment": comment.strip(), "status_before": status}, at=moment)
        _add_decision(con, request_id, actor.email, "cancel", comment.strip() or None, moment, None, {}, entry)
        _set(con, request_id, moment, status="cancelled")
    ledger.seal(workspace, catalog, by=actor.email)
    return get_request(catalog, request_id)


# -- execution ------------------------------------------------------------------------------------------------


def _record_of(v: Version) -> VersionRecord:
    """The connector's view of a catalog version (what the Promoter protocol takes)."""
    source_account, source_ref = None, None
    src = v.raw.get("source") if isinstance(v.raw, dict) else None
    if isinstance(src, dict):
        source_account, source_ref = src.get("account"), src.get("ref")
    return VersionRecord(
        model=v.model, version=v.version, source_ref=v.source_ref, approval_status=v.approval_status,
        created_at=v.created_at or dt.datetime(1970, 1, 1), created_by=v.created_by, modified_at=v.modified_at,
        approval_description=v.approval_description, artifact_uri=v.artifact_uri, artifact_sha256=v.artifact_sha256,
        framework=v.framework, image=v.image, data_uris=dict(v.data_uris), report_uris=dict(v.report_uris),
        metrics=dict(v.metrics), metadata=dict(v.metadata), source_version_ref=source_ref,
        source_account=source_account, raw=dict(v.raw),
    )


def _promoter(conn: Connector, account: str) -> Promoter:
    if not isinstance(conn, Promoter):
        raise ConnectorError(f"the connector of account {account} ({type(conn).__name__}) cannot execute "
                             "promotions; promote by hand and record it, or use a connector with a Promoter")
    return conn


def execute(
    workspace: Workspace,
    settings: Settings,
    catalog: Catalog,
    actor: Identity,
    request_id: str,
    *,
    takeover: bool = False,
    connectors: ConnectorFactory | None = None,
    refresh: bool = True,
    now: dt.datetime | None = None,
) -> Request:
    """Execute (or resume) an approved request through the connectors; returns it ``executed`` or ``failed``.

    Raises :class:`ConflictError` when the request is not approved, already executed, or being executed by
    someone else (``takeover=True`` resumes one whose executor died).
    """
    require(actor, "execute")
    factory = connectors or (lambda name: _default_connector(workspace, settings, name))
    moment = now or _now()

    def clock() -> dt.datetime:  # a given ``now`` (replayed history) stamps every step; otherwise real time
        return now or _now()

    request = get_request(catalog, request_id)
    expired = [d for d in request.risk_acceptances if d.expired(moment)]
    if expired:
        raise ConflictError(f"the risk acceptance by {expired[0].actor} expired on {expired[0].expires_at:%Y-%m-%d}: "
                            "the request needs a new decision before it can execute")
    with catalog.transaction() as con:
        status, state, updated, payload = _status_in_txn(con, request_id)
        stale = updated is not None and _now() - updated > LEASE
        if status == "executing" and not (takeover or stale):
            raise ConflictError(f"request {request_id} is already executing (since {updated:%H:%M:%S}); if that "
                                "process died, retry with takeover")
        if status not in ("approved", "failed", "executing"):
            raise ConflictError(f"request {request_id} is {status}; only an approved or failed request executes")
        payload["attempts"] = int(payload.get("attempts", 0)) + 1
        ledger.append(con, actor=actor.email, action="execute.start", subject=_subject(request_id), at=moment,
                      payload={"attempt": payload["attempts"], "resume_from": state or "queued",
                               "takeover": status == "executing"})
        _set(con, request_id, moment, status="executing", execution_state=state or "queued", execution_error=None,
             payload=payload)
    state = state or "queued"
    step = "source_approved"
    try:
        version = catalog.version(request.version_id)
        _same_artifact(request, version)
        record = _record_of(version)
        source = factory(version.account)
        approval_hash = payload.get("approval_ledger_hash")
        approvers = tuple(request.approvers)
        if STEPS.index(state) < STEPS.index("source_approved"):
            description = (f"Approved in Countersign request {request_id} by {', '.join(approvers)}"
                           f" (ledger {str(approval_hash)[:16]})")
            after = _promoter(source, version.account).set_approval(record, "Approved", description)
            _advance(catalog, actor, request_id, clock(), "source_approved", "execute.source_approved",
                     {"account": version.account, "ref": after.source_ref, "status": after.approval_status})
            state = "source_approved"
        step = "target_registered"
        if STEPS.index(state) < STEPS.index("target_registered"):
            # within one account (labels as environments) the version itself moves: there is no copy to adopt,
            # and the connector's register_copy is idempotent by request id
            in_place = request.target_account == version.account
            adopted = None if in_place else _existing_copy(catalog, request.version_id, request.target_account)
            if adopted is not None:
                target_id, target_ref = adopted.version_id, adopted.source_ref
            else:
                target = _promoter(factory(request.target_account), request.target_account).register_copy(
                    record, source,
                    PromotionRef(request_id=request_id, ledger_hash=approval_hash, source_account=version.account,
                                 source_ref=version.source_ref, approved_by=approvers, environment=request.to_env),
                )
                target_id = version_id_for(request.target_account, target.model, target.version)
                target_ref = target.source_ref
            _advance(catalog, actor, request_id, clock(), "target_registered", "execute.target_registered",
                     {"target_account": request.target_account, "target_version_id": target_id,
                      "target_ref": target_ref, "adopted": adopted is not None},
                     target_version_id=target_id)
            state = "target_registered"
        step = "done"
        refreshed = _refresh(workspace, settings, catalog, (version.account, request.target_account),
                             request_id) if refresh else []
        with catalog.transaction() as con:
            status, _, _, _ = _status_in_txn(con, request_id)
            if status != "executing":
                raise _Superseded(f"request {request_id} changed to {status} during execution")
            target_id = request_state(con, request_id).target_version_id
            ledger.append(con, actor=actor.email, action="execute.done", subject=_subject(request_id),
                          payload={"target_version_id": target_id, "refreshed": refreshed}, at=clock())
            _set(con, request_id, clock(), status="executed", execution_state="done")
    except _Superseded:
        raise
    except Exception as exc:  # a failed step is recorded and can be retried; a crash (BaseException) is not caught
        message = str(exc) if isinstance(exc, CountersignError) else f"{type(exc).__name__}: {exc}"
        message = redact(message, settings.secret_values())  # the ledger keeps it forever: no credential in it
        with catalog.transaction() as con:
            ledger.append(con, actor=actor.email, action="execute.failed", subject=_subject(request_id),
                          payload={"step": step, "error": message[:2000]}, at=clock())
            _set(con, request_id, clock(), status="failed", execution_error=f"{step}: {message}"[:4000])
    ledger.seal(workspace, catalog, by=actor.email)
    return get_request(catalog, request_id)


def _default_connector(workspace: Workspace, settings: Settings, account: str) -> Connector:
    from governance.sources import connector_for

    return connector_for(workspace, settings, account)


def _advance(catalog: Catalog, actor: Identity, request_id: str, at: dt.datetime, state: str, action: str,
             payload: dict[str, Any], **columns: Any) -> None:
    with catalog.transaction() as con:
        status, _, _, _ = _status_in_txn(con, request_id)
        if status != "executing":  # someone took over or cancelled meanwhile: stop without writing
            raise _Superseded(f"request {request_id} changed to {status} during execution")
        ledger.append(con, actor=actor.email, action=action, subject=_subject(request_id), payload=payload, at=at)
        _set(con, request_id, at, execution_state=state, **columns)


def _existing_copy(catalog: Catalog, version_id: str, target_account: str) -> Version | None:
    """A version already in the target account that was promoted from ``version_id`` (adopted, not copied again)."""
    return catalog.promoted_copy(version_id, target_account)


def _refresh(workspace: Workspace, settings: Settings, catalog: Catalog, accounts: tuple[str, ...],
             request_id: str | None = None) -> list[str]:
    """Sync the two accounts an execution touched, so the catalog shows the result at once (best effort).

    The history rows these syncs open are tied to ``request_id`` (Countersign caused those changes)."""
    from governance.sync import sync_account

    # Execution is authorised already; re-reading the accounts it wrote is part of it, not a separate sync right.
    system = Identity(email="system:execution", roles=frozenset({"admin"}), source="system")
    done = []
    for name in dict.fromkeys(accounts):
        result = sync_account(workspace, settings, catalog, settings.account(name), actor=system, request_id=request_id)
        done.append(f"{name}:{result.status}")
    return done


def unapproved_deployments(catalog: Catalog, environment: str = "prod") -> pd.DataFrame:
    """Serving deployments in ``environment`` whose version is not approved in the registry or in Countersign."""
    return catalog.unapproved_deployments(environment)


FLAG_UNAPPROVED = "⚠ unapproved deployment"
FLAG_NO_SIGNOFF = "⚠ no Countersign sign-off"


@dataclass(frozen=True)
class DeploymentFlag:
    """The deployment flag of one inventory row, as the portal and the CLI show it."""

    no_signoff: bool  # serving in the last environment without an executed Countersign promotion
    flagged: bool  # either problem
    flag: str  # FLAG_UNAPPROVED, FLAG_NO_SIGNOFF or empty
    reason: str  # why, in words


def deployment_flag(row: Mapping[str, Any], last_env: str | None) -> DeploymentFlag:
    """The flag of one inventory row (``Catalog.inventory_rows``): serving in the last environment (prod) needs both
    an approval in the registry and a Countersign sign-off. :func:`flag_deployments` applies it to a frame."""
    unapproved = bool(row["unapproved_deployment"])
    no_signoff = bool(row["serving_without_countersign"]) and row["environment"] == last_env
    reasons = []
    if row["approval_status"] != "Approved":
        reasons.append(f"its registry status is **{row['approval_status']}**")
    if no_signoff:
        reasons.append("no Countersign promotion was signed off for it")
    flag = FLAG_UNAPPROVED if unapproved else FLAG_NO_SIGNOFF if no_signoff else ""
    return DeploymentFlag(no_signoff, unapproved or no_signoff, flag, " and ".join(reasons))


def flag_deployments(inventory: pd.DataFrame, environment_order: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """The inventory (``Catalog.inventory``) with the deployment flags the portal and the CLI show
    (:func:`deployment_flag` per row): adds ``no_signoff``, ``flagged``, ``flag`` and ``flag_reason``."""
    import pandas as pd

    last_env = environment_order[-1] if environment_order else None
    flags = [deployment_flag(row, last_env) for row in inventory.to_dict("records")]
    return inventory.assign(
        no_signoff=pd.Series([f.no_signoff for f in flags], index=inventory.index, dtype=bool),
        flagged=pd.Series([f.flagged for f in flags], index=inventory.index, dtype=bool),
        flag=pd.Series([f.flag for f in flags], index=inventory.index, dtype=object),
        flag_reason=pd.Series([f.reason for f in flags], index=inventory.index, dtype=object),
    )
