"""Promotion requests: ask, decide (four eyes, N approvers, risk acceptance); execution is :mod:`governance.execution`.

Life of a request::

    pending ──approve×N──▶ approved ──execute──▶ executing ──▶ executed
       │                      │                     │
       ├──reject──▶ rejected  └──cancel──▶ cancelled └──error──▶ failed ──execute (retry)──▶ executing

Every transition happens in one catalog transaction that first re-reads the request's status (compare and set),
so two officers approving at the same moment produce one decision, and two executors produce one execution.
Each transition appends its ledger entry in that same transaction and then seals a signed checkpoint.

Every function that acts takes the :class:`~governance.context.Context` whole: its identity is the actor, its
workspace holds the signed ledger head and checkpoints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from connectors.base import ArtifactDigest, ArtifactReader, Connector, Promoter, VersionRecord
from core.clock import utcnow
from core.errors import AccessDenied, ArtifactMismatch, ConflictError, ConnectorError, InputError, NotFound
from core.ids import new_decision_id, new_request_id
from core.inputs import required_text
from governance import ledger
from governance.catalog import Catalog, Version
from governance.catalog.signoff import (
    Decision,
    Request,
    insert_decision,
    insert_request,
    open_request_of_version,
    request_state,
    update_request,
)
from governance.config import AccountConfig, Settings
from governance.context import Context
from governance.identity import Identity, require
from governance.ledger.requests import LedgerRequest, request_from_ledger
from governance.ledger.subjects import request_subject
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


def _lower(actor: str) -> str:
    return actor.strip().lower()


def four_eyes_problem(email: str, request: Request, version: Version,
                      person: Callable[[str], str] = _lower) -> str | None:
    """Why ``email`` may not approve ``request`` under four eyes, or None when they may; ``person`` says who an
    actor is (``Settings.person``: an ``os:`` user mapped to an e-mail is that person), so people are compared, not
    spellings."""
    who = person(email)
    if who == person(request.requester):
        return f"{email} requested this promotion and may not approve it (four eyes)"
    if version.created_by and who == person(version.created_by):
        return f"{email} created version {version.version_id} and may not approve its promotion (four eyes)"
    if who in {person(a) for a in request.approvers}:
        return f"{email} already approved this request; tier needs {request.approvals_required} distinct approvers"
    return None


def blocking_gates(request: Request, checklist: Checklist, now: dt.datetime) -> tuple[GateResult, ...]:
    """The gates that block approving ``request`` now: failing or missing, and not covered by a risk acceptance
    that is still in force at ``now`` (an expired acceptance covers nothing). The one rule the page and approval use.
    """
    covered = {g for d in request.risk_acceptances if not d.expired(now) for g in d.payload.get("gates", [])}
    return tuple(r for r in checklist.blocking if r.gate not in covered)


def allowed_actions(identity: Identity, request: Request, version: Version,
                    person: Callable[[str], str] = _lower) -> frozenset[str]:
    """What ``identity`` may do to ``request`` now (the pages show only these; governance checks again)."""
    out: set[str] = set()
    if request.status == "pending":
        if identity.can("approve") and four_eyes_problem(identity.email, request, version, person) is None:
            out.add("approve")
            if identity.can("accept_risk"):
                out.add("accept_risk")
        # whoever approved already has said their word: nothing more is offered to them (a change of mind is a
        # conversation with the requester, who may cancel)
        if identity.can("reject") and person(identity.email) not in {person(a) for a in request.approvers}:
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


_subject = request_subject


def _connectors(ctx: Context, given: ConnectorFactory | None) -> ConnectorFactory:
    return given or (lambda name: _default_connector(ctx, name))


def _default_connector(ctx: Context, account: str) -> Connector:
    from governance.sources import connector_for

    return connector_for(ctx.workspace, ctx.settings, account)


def observe_artifact(connectors: ConnectorFactory, version: Version, *, fresh: bool = False) -> ArtifactDigest:
    """Countersign's own digest of ``version``'s artifact bytes as its registry holds them now (``fresh``: stream
    them again even when the source says nothing changed), or why it cannot be read."""
    if not version.artifact_uri:
        return ArtifactDigest(None, "countersign", None, None,
                              problem=f"{version.version_id} records no artifact in its registry")
    conn = connectors(version.account)
    if not isinstance(conn, ArtifactReader):
        return ArtifactDigest(None, "registry", None, None, problem=f"the connector of account {version.account} "
                              f"({type(conn).__name__}) cannot read artifact bytes")
    return conn.artifact_digest(_record_of(version), fresh=fresh)


def _check_bound(truth: LedgerRequest, observed: ArtifactDigest, what: str) -> None:
    """Refuse unless the bytes observed now are the ones the request's ledger entry bound."""
    if truth.artifact_sha256 is None:
        raise ConflictError(f"{what} refused: request {truth.request_id} bound no artifact digest, so nothing ties a "
                            "sign-off to bytes; cancel it and request again once the artifact can be read")
    if observed.sha256 is None:
        raise ConflictError(f"{what} refused: the artifact of {truth.version_id} cannot be read now "
                            f"({observed.problem}), so it cannot be checked against the bytes the request bound")
    if observed.sha256 != truth.artifact_sha256:
        raise ArtifactMismatch(
            truth.artifact_sha256, observed.sha256, f"{what} refused: the artifact of {truth.version_id}",
            remedy=f"Its bytes were replaced since request {truth.request_id} bound them; nothing was written to a "
                   "registry. Cancel the request and request again if the new artifact is intended")


def _record_refusal(ctx: Context, request_id: str, action: str, exc: ArtifactMismatch, at: dt.datetime) -> None:
    """Write the refusal of an artifact that changed as a ledger entry naming both digests (never on a tail the
    signed head disowns)."""
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, "recording the refusal")
        ledger.append(con, actor=ctx.identity.email, action=action, subject=_subject(request_id), at=at,
                      payload={"reason": "artifact changed", "expected_sha256": exc.expected,
                               "found_sha256": exc.found})


def _truth(con: Any, request_id: str, catalog_status: str, person: Callable[[str], str] = _lower) -> LedgerRequest:
    """The request as its ledger entries tell it, refusing when the catalog's cached state disagrees."""
    truth = request_from_ledger(con, request_id, person)
    if truth is None:
        raise ConflictError(f"request {request_id} has no request.create entry in the ledger: the catalog row was not "
                            "written by Countersign; run 'countersign ledger verify'")
    if truth.status != catalog_status:
        why = f"; {'; '.join(truth.ignored)}" if truth.ignored else ""
        raise ConflictError(f"request {request_id} is {catalog_status} in the catalog but {truth.status} in the "
                            f"ledger ({truth.progress()}{why}): the catalog's copy disagrees with the ledger, which "
                            "decides; run 'countersign ledger verify'")
    return truth


def create_request(
    ctx: Context,
    version_id: str,
    to_env: str,
    reason: str,
    *,
    target_account: str | None = None,
    evidence: EvidenceLookup | None = None,
    now: dt.datetime | None = None,
    connectors: ConnectorFactory | None = None,
    checklist: Checklist | None = None,
) -> Request:
    """Ask to promote ``version_id`` into ``to_env`` as ``ctx``'s identity; the gate checklist at this moment is
    recorded with it (``checklist``: one the caller evaluated for this version and environment just now), and the
    artifact's digest as Countersign reads it now is frozen (every approval and the execution check the bytes
    against it)."""
    workspace, settings, catalog, actor = ctx.workspace, ctx.settings, ctx.catalog, ctx.identity
    require(actor, "request_promotion")
    reason = required_text(reason, "a reason for the promotion")
    version = catalog.version(version_id)
    tier_name, tier = model_tier(catalog, settings, version.model)
    path = promotion_path(settings, tier_name, tier, version.environment, to_env, subject=version_id)
    target = _target_account(settings, version, to_env, target_account)
    moment = now or _now()
    digest = _frozen_digest(_connectors(ctx, connectors), version)
    checklist = _checklist_for(ctx, checklist, version_id, to_env, evidence, moment)
    request_id = new_request_id(moment)
    payload = {
        "approvals_required": path.approvals_required,
        "tier_approvals_required": checklist.approvals_required,
        "skip": path.skip,
        "path": path.describe(),
        "tier": checklist.tier_name,
        "artifact_sha256": digest.sha256,
        "source_ref": version.source_ref,
        "created_by": version.created_by,
        "checklist": checklist.as_dict(),
        "attempts": 0,
    }
    with catalog.transaction() as con:
        ledger.require_sealed_tail(workspace, con, f"the request to promote {version_id}")
        dup = open_request_of_version(con, version_id, OPEN_STATUSES)
        if dup is not None:
            raise ConflictError(
                f"{version_id} already has an open request: {dup.request_id} to {dup.to_env} ({dup.target_account}), "
                f"{dup.status}. One open request per version: wait for it to finish, or cancel it first"
            )
        entry = ledger.append(con, actor=actor.email, action="request.create", subject=_subject(request_id), at=moment,
                              payload={"version_id": version_id, "from_env": version.environment, "to_env": to_env,
                                       "target_account": target.name, "reason": reason,
                                       "artifact_sha256": digest.sha256, "artifact_identity": digest.identity,
                                       "created_by": version.created_by, "tier": checklist.tier_name,
                                       "approvals_required": path.approvals_required, "skip": path.skip,
                                       "gates": {r.gate: r.status for r in checklist.results}})
        payload["ledger_hash"] = entry.hash
        insert_request(con, Request(request_id, version_id, version.model, version.environment, to_env, target.name,
                                    actor.email, reason, "pending", moment, moment, None, None, None, payload))
    ledger.seal(workspace, catalog, by=actor.email)
    return get_request(catalog, request_id)


def _target_account(settings: Settings, version: Version, to_env: str, named: str | None) -> AccountConfig:
    """The account a promotion of ``version`` into ``to_env`` registers in: the one named, else the one account of
    the same kind that holds ``to_env``."""
    source_account = settings.account(version.account)
    # an account holds to_env as its own environment, or through registry labels (an MLflow alias, a ZenML stage
    # mapped to it): then the promotion moves the label, possibly within the source account itself
    candidates = [a for a in settings.accounts if to_env in a.environments and a.connector == source_account.connector]
    if named:
        target = settings.account(named)
        if to_env not in target.environments:
            raise InputError(f"account {named} is in {', '.join(target.environments)}, not {to_env}")
        if target.connector != source_account.connector:
            raise InputError(f"account {named} is a {target.connector} registry; {version.version_id} lives in a "
                             f"{source_account.connector} registry and can only be promoted to one of that kind")
        return target
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError(f"no {source_account.connector} account in {to_env} to promote {version.version_id} into")
    raise InputError(f"several accounts in {to_env} could receive {version.version_id} "
                     f"({', '.join(a.name for a in candidates)}): name one with target_account")


def _checklist_for(ctx: Context, given: Checklist | None, version_id: str, to_env: str,
                   evidence: EvidenceLookup | None, moment: dt.datetime) -> Checklist:
    """``given`` when it is the checklist of ``version_id`` into ``to_env`` (the caller evaluated it for this
    decision); otherwise the gates evaluated now."""
    if given is None:
        return evaluate(ctx.catalog, ctx.settings, version_id, to_env, evidence=evidence, now=moment)
    if (given.version_id, given.to_env) != (version_id, to_env):
        raise InputError(f"the checklist given is for {given.version_id} into {given.to_env}, not {version_id} into "
                         f"{to_env}")
    return given


def _frozen_digest(connectors: ConnectorFactory, version: Version) -> ArtifactDigest:
    """The digest a new request binds: the bytes as the registry holds them now, which must be the bytes the catalog
    (and the evidence computed from it) saw at the last sync."""
    observed = observe_artifact(connectors, version)
    if observed.sha256 is None:
        raise ConflictError(f"cannot request a promotion of {version.version_id}: its artifact cannot be read "
                            f"({observed.problem}), and a sign-off binds to the artifact's bytes")
    if version.artifact_sha256 and observed.sha256 != version.artifact_sha256:
        raise ArtifactMismatch(
            version.artifact_sha256, observed.sha256,
            f"cannot request a promotion of {version.version_id}: its artifact (the catalog's digest is from the last "
            "sync)", remedy="Run 'countersign sync' so the catalog and its evidence see the new bytes, then request "
                            "again")
    return observed


def approve(
    ctx: Context,
    request_id: str,
    comment: str,
    *,
    risk_acceptance: RiskAcceptance | None = None,
    evidence: EvidenceLookup | None = None,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    connectors: ConnectorFactory | None = None,
    checklist: Checklist | None = None,
) -> Request:
    """Approve a pending request as ``ctx``'s identity (four eyes); failing gates need a risk acceptance. Returns
    the request.

    The artifact's bytes are read again and must be the ones the request bound (a difference is refused and
    recorded as ``approval.refused``); approvals are counted from the request's ledger entries. ``dry_run`` makes
    every check and raises what the approval would raise, but writes nothing (the page asks for a confirmation only
    of an approval that would go through). ``checklist``: the gates of the request's version and environment as the
    caller evaluated them for this decision (what the approver saw); otherwise they are evaluated now."""
    workspace, settings, catalog, actor = ctx.workspace, ctx.settings, ctx.catalog, ctx.identity
    require(actor, "approve")
    comment = required_text(comment, "an approval comment")
    moment = now or _now()
    request = get_request(catalog, request_id)
    if request.status != "pending":
        raise ConflictError(f"request {request_id} is {request.status}; only a pending request can be approved")
    version = catalog.version(request.version_id)
    problem = four_eyes_problem(actor.email, request, version, settings.person)
    if problem:
        raise AccessDenied(problem)
    observed = _confirm_bytes(ctx, request_id, _connectors(ctx, connectors), version, "approval", "approval.refused",
                              moment, record=not dry_run)
    checklist = _checklist_for(ctx, checklist, request.version_id, request.to_env, evidence, moment)
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
        ledger.require_sealed_tail(workspace, con, f"the approval of {request_id}")
        status, _, _, payload = _status_in_txn(con, request_id)
        truth = _truth(con, request_id, status, settings.person)
        if status != "pending":
            raise ConflictError(f"request {request_id} is {status}; only a pending request can be approved")
        _four_eyes_in_ledger(actor, truth, settings.person)
        approval = _Approval(actor, request, truth, checklist, comment, moment, observed.sha256,
                             policy_version(settings, checklist.tier_name, workspace.root))
        _write_approval(con, approval, risk_acceptance, payload)
    ledger.seal(workspace, catalog, by=actor.email)
    return get_request(catalog, request_id)


def _confirm_bytes(ctx: Context, request_id: str, connectors: ConnectorFactory, version: Version, what: str,
                   refusal: str, at: dt.datetime, *, fresh: bool = False, record: bool = True) -> ArtifactDigest:
    """Read the artifact's bytes now and refuse unless they are the ones the request's ledger entry bound; a
    difference is recorded as the ``refusal`` entry with both digests."""
    catalog = ctx.catalog
    with catalog.write_lock, catalog.connect() as con:  # this process's writers have sealed what they committed
        ledger.require_sealed_tail(ctx.workspace, con, f"the {what} of {request_id}")  # before reading the registry
        truth = request_from_ledger(con, request_id)
    observed = observe_artifact(connectors, version, fresh=fresh)
    if truth is None:
        raise ConflictError(f"request {request_id} has no request.create entry in the ledger: the catalog row was not "
                            "written by Countersign; run 'countersign ledger verify'")
    try:
        _check_bound(truth, observed, f"the {what} of {request_id}")
    except ArtifactMismatch as exc:
        if record:
            _record_refusal(ctx, request_id, refusal, exc, at)
        raise
    return observed


def _four_eyes_in_ledger(actor: Identity, truth: LedgerRequest, person: Callable[[str], str]) -> None:
    """Four eyes against what the ledger records (requester, version creator, earlier approvers), person by person."""
    who = person(actor.email)
    if who == person(truth.requester):
        raise AccessDenied(f"{actor.email} is the person who requested {truth.request_id} ({truth.requester}) and may "
                           "not approve it (four eyes)")
    if truth.created_by and who == person(truth.created_by):
        raise AccessDenied(f"{actor.email} created version {truth.version_id} and may not approve its promotion "
                           "(four eyes)")
    if who in {person(a) for a in truth.approvers}:
        raise AccessDenied(f"{actor.email} already approved request {truth.request_id}")


@dataclass(frozen=True)
class _Approval:
    """One approval being written: who, of what, on which checklist, bytes and policy."""

    actor: Identity
    request: Request
    truth: LedgerRequest
    checklist: Checklist
    comment: str
    at: dt.datetime
    artifact_sha256: str | None
    policy_version: Any


def _write_approval(con: Any, a: _Approval, risk_acceptance: RiskAcceptance | None, payload: dict[str, Any]) -> None:
    """(inside the approval's transaction) The acceptance, the approval and, when it completes the request, the
    approved marker: ledger entries, decisions and the catalog's cached state."""
    rid, email = a.request.request_id, a.actor.email
    acceptance_id = None
    in_force = [acceptance_entry(d.decision_id, d.actor, d.payload.get("gates", []), d.expires_at)
                for d in a.request.risk_acceptances if not d.expired(a.at)]
    if risk_acceptance is not None:
        acc = {"gates": sorted(risk_acceptance.gates), "justification": risk_acceptance.justification.strip(),
               "expires_at": risk_acceptance.expires_at,
               "follow_up": risk_acceptance.follow_up or risk_acceptance.expires_at,
               "awaits": awaited_evidence(risk_acceptance.gates),
               "results": [r.as_dict() for r in a.checklist.results if r.gate in risk_acceptance.gates]}
        entry = ledger.append(con, actor=email, action="request.accept_risk", subject=_subject(rid), payload=acc,
                              at=a.at)
        acceptance_id = _add_decision(con, rid, email, "risk_acceptance", risk_acceptance.justification.strip(),
                                      a.at, risk_acceptance.expires_at, acc, entry)
        in_force.append(acceptance_entry(acceptance_id, email, risk_acceptance.gates, risk_acceptance.expires_at))
    counted = len(a.truth.approvals) + 1
    required = a.truth.approvals_required
    body = {"comment": a.comment, "version_id": a.request.version_id, "checklist": a.checklist.as_dict(),
            "risk_acceptance": acceptance_id, "approval_number": counted, "approvals_required": required,
            "snapshot": snapshot_payload(a.checklist, in_force, a.policy_version)}
    entry = ledger.append(con, actor=email, action="request.approve", subject=_subject(rid),
                          payload={k: v for k, v in body.items() if k not in ("checklist", "snapshot")}
                          | {"gates": {r.gate: r.status for r in a.checklist.results},
                             "evidence": [e.evidence_id for e in a.checklist.evidence],
                             "policy_version": body["snapshot"]["policy_version"],
                             "artifact_sha256": a.artifact_sha256}, at=a.at)
    _add_decision(con, rid, email, "approve", a.comment, a.at, None, body, entry)
    if counted >= required:
        payload["approval_ledger_hash"] = entry.hash
        ledger.append(con, actor=email, action="request.approved", subject=_subject(rid), at=a.at,
                      payload={"approvers": sorted({x.lower() for x in a.truth.approvers} | {email.lower()}),
                               "approvals_required": required})
        _set(con, rid, a.at, status="approved", execution_state="queued", payload=payload)
    else:
        _set(con, rid, a.at)


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
    required_text(acc.justification, "a justification for the risk acceptance", minimum=20)
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


def reject(ctx: Context, request_id: str, comment: str, *, evidence: EvidenceLookup | None = None,
           now: dt.datetime | None = None, checklist: Checklist | None = None) -> Request:
    """Reject a pending request as ``ctx``'s identity, with a mandatory comment (``checklist``: as for
    :func:`approve`)."""
    workspace, settings, catalog, actor = ctx.workspace, ctx.settings, ctx.catalog, ctx.identity
    require(actor, "reject")
    comment = required_text(comment, "a rejection comment")
    moment = now or _now()
    request = get_request(catalog, request_id)
    checklist = _checklist_for(ctx, checklist, request.version_id, request.to_env, evidence, moment)
    in_force = [acceptance_entry(d.decision_id, d.actor, d.payload.get("gates", []), d.expires_at)
                for d in request.risk_acceptances if not d.expired(moment)]
    snapshot = snapshot_payload(checklist, in_force, policy_version(settings, checklist.tier_name, workspace.root))
    with catalog.transaction() as con:
        ledger.require_sealed_tail(workspace, con, f"the rejection of {request_id}")
        status, _, _, _ = _status_in_txn(con, request_id)
        _truth(con, request_id, status)
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


def cancel(ctx: Context, request_id: str, comment: str = "", *, now: dt.datetime | None = None) -> Request:
    """Withdraw a request that has not executed, as ``ctx``'s identity (its requester, or an admin)."""
    workspace, catalog, actor = ctx.workspace, ctx.catalog, ctx.identity
    require(actor, "cancel_request")
    request = get_request(catalog, request_id)
    if not _may_cancel(actor, request):
        raise AccessDenied(f"only the requester {request.requester} (or an admin) may cancel {request_id}")
    moment = now or _now()
    with catalog.transaction() as con:
        ledger.require_sealed_tail(workspace, con, f"the cancellation of {request_id}")
        status, _, _, _ = _status_in_txn(con, request_id)
        _truth(con, request_id, status)
        if status not in ("pending", "approved", "failed"):
            raise ConflictError(f"request {request_id} is {status}; it can no longer be cancelled")
        entry = ledger.append(con, actor=actor.email, action="request.cancel", subject=_subject(request_id),
                              payload={"comment": comment.strip(), "status_before": status}, at=moment)
        _add_decision(con, request_id, actor.email, "cancel", comment.strip() or None, moment, None, {}, entry)
        _set(con, request_id, moment, status="cancelled")
    ledger.seal(workspace, catalog, by=actor.email)
    return get_request(catalog, request_id)


# -- the connector's view -------------------------------------------------------------------------------------


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


def promoter_of(conn: Connector, account: str) -> Promoter:
    """The connector of ``account`` as a :class:`~connectors.base.Promoter`, or why it cannot execute promotions."""
    if not isinstance(conn, Promoter):
        raise ConnectorError(f"the connector of account {account} ({type(conn).__name__}) cannot execute "
                             "promotions; promote by hand and record it, or use a connector with a Promoter")
    return conn


# The names other lifecycle services share with promotion (governance.fallback executes through the same connectors).
record_of = _record_of
