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
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from connectors.base import ArtifactDigest, ArtifactReader, Connector, Promoter, PromotionRef, VersionRecord
from core.clock import utcnow
from core.credentials import redact
from core.errors import (
    AccessDenied,
    ArtifactMismatch,
    ConflictError,
    ConnectorError,
    CountersignError,
    InputError,
    NotFound,
)
from core.ids import new_decision_id, new_request_id, version_id_for
from governance import execution_lock, ledger
from governance.catalog import Catalog, Version
from governance.catalog.signoff import (
    Decision,
    Request,
    insert_decision,
    insert_request,
    open_request_of_version,
    request_state,
    touch_executing,
    update_request,
)
from governance.config import Settings, Workspace
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


_subject = request_subject


def _connectors(workspace: Workspace, settings: Settings, given: ConnectorFactory | None) -> ConnectorFactory:
    return given or (lambda name: _default_connector(workspace, settings, name))


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


def _record_refusal(workspace: Workspace, catalog: Catalog, actor: Identity, request_id: str, action: str,
                    exc: ArtifactMismatch, at: dt.datetime) -> None:
    """Write the refusal of an artifact that changed as a ledger entry naming both digests (never on a tail the
    signed head disowns)."""
    with catalog.transaction() as con:
        ledger.require_sealed_tail(workspace, con, "recording the refusal")
        ledger.append(con, actor=actor.email, action=action, subject=_subject(request_id), at=at,
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
    connectors: ConnectorFactory | None = None,
) -> Request:
    """Ask to promote ``version_id`` into ``to_env``; the gate checklist at this moment is recorded with it, and the
    artifact's digest as Countersign reads it now is frozen (every approval and the execution check the bytes
    against it)."""
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
    digest = _frozen_digest(_connectors(workspace, settings, connectors), version)
    checklist = evaluate(catalog, settings, version_id, to_env, evidence=evidence, now=moment)
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
    connectors: ConnectorFactory | None = None,
) -> Request:
    """Approve a pending request (four eyes); failing gates need a risk acceptance. Returns the request.

    The artifact's bytes are read again and must be the ones the request bound (a difference is refused and
    recorded as ``approval.refused``); approvals are counted from the request's ledger entries. ``dry_run`` makes
    every check and raises what the approval would raise, but writes nothing (the page asks for a confirmation only
    of an approval that would go through)."""
    require(actor, "approve")
    comment = _text(comment, "an approval comment")
    moment = now or _now()
    request = get_request(catalog, request_id)
    if request.status != "pending":
        raise ConflictError(f"request {request_id} is {request.status}; only a pending request can be approved")
    version = catalog.version(request.version_id)
    problem = four_eyes_problem(actor.email, request, version, settings.person)
    if problem:
        raise AccessDenied(problem)
    observed = _confirm_bytes(workspace, catalog, actor, request_id, _connectors(workspace, settings, connectors),
                              version, "approval", "approval.refused", moment, record=not dry_run)
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


def _confirm_bytes(workspace: Workspace, catalog: Catalog, actor: Identity, request_id: str,
                   connectors: ConnectorFactory, version: Version, what: str, refusal: str, at: dt.datetime, *,
                   fresh: bool = False, record: bool = True) -> ArtifactDigest:
    """Read the artifact's bytes now and refuse unless they are the ones the request's ledger entry bound; a
    difference is recorded as the ``refusal`` entry with both digests."""
    with catalog.write_lock, catalog.connect() as con:  # this process's writers have sealed what they committed
        ledger.require_sealed_tail(workspace, con, f"the {what} of {request_id}")  # before reading the registry
        truth = request_from_ledger(con, request_id)
    observed = observe_artifact(connectors, version, fresh=fresh)
    if truth is None:
        raise ConflictError(f"request {request_id} has no request.create entry in the ledger: the catalog row was not "
                            "written by Countersign; run 'countersign ledger verify'")
    try:
        _check_bound(truth, observed, f"the {what} of {request_id}")
    except ArtifactMismatch as exc:
        if record:
            _record_refusal(workspace, catalog, actor, request_id, refusal, exc, at)
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


def cancel(workspace: Workspace, settings: Settings, catalog: Catalog, actor: Identity, request_id: str,
           comment: str = "", *, now: dt.datetime | None = None) -> Request:
    """Withdraw a request that has not executed (its requester, or an admin)."""
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


def _approve_at_source(promoter: Promoter, record: VersionRecord, description: str, environment: str) -> VersionRecord:
    """``set_approval`` of the source version, with the target environment when the promoter takes it (a registry
    that records the stage beside the approval: SageMaker's ModelLifeCycle)."""
    try:
        takes = "environment" in inspect.signature(promoter.set_approval).parameters
    except (TypeError, ValueError):
        takes = False
    if takes:
        return promoter.set_approval(record, "Approved", description, environment=environment)  # type: ignore[call-arg]
    return promoter.set_approval(record, "Approved", description)


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

    The approvals are counted from the request's ledger entries and checked against the tier's policy as it is now;
    the artifact's bytes are streamed again and must be the ones the request bound (else ``execution.refused``,
    both digests); the promoter hashes the bytes it copies and reads the target's copy back. Raises
    :class:`ConflictError` when the request is not approved, already executed, or being executed by someone else
    (``takeover=True`` resumes one whose executor died).
    """
    require(actor, "execute")
    factory = _connectors(workspace, settings, connectors)
    moment = now or _now()
    request = get_request(catalog, request_id)
    expired = [d for d in request.risk_acceptances if d.expired(moment)]
    if expired:
        raise ConflictError(f"the risk acceptance by {expired[0].actor} expired on {expired[0].expires_at:%Y-%m-%d}: "
                            "the request needs a new decision before it can execute")
    version = catalog.version(request.version_id)
    tier_name, tier = model_tier(catalog, settings, version.model)
    required_now = promotion_path(settings, tier_name, tier, request.from_env, request.to_env,
                                  subject=request.version_id).approvals_required
    _confirm_bytes(workspace, catalog, actor, request_id, factory, version, "execution", "execution.refused", moment,
                   fresh=True)
    run = _Run(workspace, settings, catalog, actor, request, version, factory, now, refresh)
    with execution_lock.holding(workspace, request_id) as me:
        state = _start(run, me, takeover, required_now, moment)
        with execution_lock.heartbeat(lambda at: _beat(catalog, request_id, at)):
            _run_or_record(run, state)
    ledger.seal(workspace, catalog, by=actor.email)
    return get_request(catalog, request_id)


def _start(run: _Run, me: execution_lock.Executor, takeover: bool, required_now: int, at: dt.datetime) -> str:
    """The execution's first transaction: the ledger's word on the request, then ``execute.start``; returns the step
    to resume from."""
    request_id = run.request.request_id
    with run.catalog.transaction() as con:
        ledger.require_sealed_tail(run.workspace, con, f"the execution of {request_id}")
        status, state, updated, payload = _status_in_txn(con, request_id)
        run.truth = _truth(con, request_id, status, run.settings.person)
        _may_start(run.truth, status, updated, takeover, required_now,
                   execution_lock.Executor.from_dict(payload.get("executor")))
        payload["attempts"] = int(payload.get("attempts", 0)) + 1
        payload["executor"] = me.as_dict()
        ledger.append(con, actor=run.actor.email, action="execute.start", subject=_subject(request_id), at=at,
                      payload={"attempt": payload["attempts"], "resume_from": state or "queued",
                               "takeover": status == "executing", "executor": me.as_dict(),
                               "approvals": [a.actor for a in run.truth.approvals], "approvals_required": required_now})
        _set(con, request_id, at, status="executing", execution_state=state or "queued", execution_error=None,
             payload=payload)
    run.payload = payload
    return state or "queued"


def _beat(catalog: Catalog, request_id: str, at: dt.datetime) -> None:
    with catalog.transaction() as con:
        touch_executing(con, request_id, at)


def _run_or_record(run: _Run, state: str) -> None:
    """Run the steps; a failed step is recorded (``execute.failed``, the request ``failed``) and can be retried."""
    request_id, catalog, actor = run.request.request_id, run.catalog, run.actor
    try:
        _run_steps(run, state)
    except _Superseded:
        raise
    except Exception as exc:  # a failed step is recorded and can be retried; a crash (BaseException) is not caught
        message = str(exc) if isinstance(exc, CountersignError) else f"{type(exc).__name__}: {exc}"
        message = redact(message, run.settings.secret_values())  # the ledger keeps it forever: no credential in it
        failure: dict[str, Any] = {"step": run.step, "error": message[:2000]}
        if isinstance(exc, ArtifactMismatch):
            failure |= {"expected_sha256": exc.expected, "found_sha256": exc.found}
        with catalog.transaction() as con:
            ledger.require_sealed_tail(run.workspace, con, f"recording the failed execution of {request_id}")
            ledger.append(con, actor=actor.email, action="execute.failed", subject=_subject(request_id),
                          payload=failure, at=run.clock())
            _set(con, request_id, run.clock(), status="failed", execution_error=f"{run.step}: {message}"[:4000])


def _may_start(truth: LedgerRequest, status: str, updated: dt.datetime | None, takeover: bool,
               required_now: int, previous: execution_lock.Executor | None) -> None:
    """Refuse an execution the ledger does not authorise now: too few recorded approvals for the tier's policy as it
    stands, a request that is not approved, or one an executor that is still alive holds (this host's lock proved a
    local one gone; one on another host must have gone silent)."""
    stale = updated is not None and _now() - updated > LEASE
    alive = execution_lock.gone_elsewhere(previous, updated, _now()) if status == "executing" else None
    if alive:
        raise ConflictError(f"request {truth.request_id} is executing elsewhere: {alive}")
    if status == "executing" and not (takeover or stale):
        raise ConflictError(f"request {truth.request_id} is already executing (since {updated:%H:%M:%S}); if that "
                            "process died, retry with takeover")
    if status not in ("approved", "failed", "executing"):
        raise ConflictError(f"request {truth.request_id} is {status}; only an approved or failed request executes")
    required = max(truth.approvals_required, required_now)
    if len(truth.approvals) < required:
        raise ConflictError(f"request {truth.request_id} may not execute: the ledger records {len(truth.approvals)} "
                            f"of the {required} approvals its tier requires now"
                            + (f" ({'; '.join(truth.ignored)})" if truth.ignored else ""))


@dataclass
class _Run:
    """One execution attempt: what it acts on and where it stands."""

    workspace: Workspace
    settings: Settings
    catalog: Catalog
    actor: Identity
    request: Request
    version: Version
    factory: ConnectorFactory
    now: dt.datetime | None  # a given ``now`` (replayed history) stamps every step; otherwise real time
    refresh: bool = True  # re-read both accounts at the end, so the catalog shows the result at once
    truth: LedgerRequest | None = None
    payload: dict[str, Any] | None = None
    step: str = "source_approved"

    def clock(self) -> dt.datetime:
        return self.now or _now()

    def advance(self, state: str, action: str, payload: dict[str, Any], **columns: Any) -> None:
        _advance(self.workspace, self.catalog, self.actor, self.request.request_id, self.clock(), state, action,
                 payload, **columns)


def _run_steps(run: _Run, state: str) -> None:
    """Carry the execution from ``state`` to done: approve in the source, register the target, re-read both."""
    request, version = run.request, run.version
    assert run.truth is not None and run.payload is not None
    record = _record_of(version)
    source = run.factory(version.account)
    approval_hash = run.payload.get("approval_ledger_hash")
    approvers = run.truth.approvers
    if STEPS.index(state) < STEPS.index("source_approved"):
        description = (f"Approved in Countersign request {request.request_id} by {', '.join(approvers)}"
                       f" (ledger {str(approval_hash)[:16]})")
        after = _approve_at_source(_promoter(source, version.account), record, description, request.to_env)
        run.advance("source_approved", "execute.source_approved",
                    {"account": version.account, "ref": after.source_ref, "status": after.approval_status})
        state = "source_approved"
    run.step = "target_registered"
    if STEPS.index(state) < STEPS.index("target_registered"):
        _register_target(run, record, source, approval_hash, approvers)
    run.step = "done"
    refreshed = _refresh(run.workspace, run.settings, run.catalog, (version.account, request.target_account),
                         request.request_id) if run.refresh else []
    with run.catalog.transaction() as con:
        ledger.require_sealed_tail(run.workspace, con, f"the execution of {request.request_id}")
        status, _, _, _ = _status_in_txn(con, request.request_id)
        if status != "executing":
            raise _Superseded(f"request {request.request_id} changed to {status} during execution")
        target_id = request_state(con, request.request_id).target_version_id
        ledger.append(con, actor=run.actor.email, action="execute.done", subject=_subject(request.request_id),
                      payload={"target_version_id": target_id, "refreshed": refreshed}, at=run.clock())
        _set(con, request.request_id, run.clock(), status="executed", execution_state="done")


def _register_target(run: _Run, record: VersionRecord, source: Connector, approval_hash: Any,
                     approvers: tuple[str, ...]) -> None:
    """Register the approved bytes in the target account (or move the label, within one account); adopt a copy a
    crashed attempt already made."""
    request, version = run.request, run.version
    assert run.truth is not None
    # within one account (labels as environments) the version itself moves: there is no copy to adopt, and the
    # connector's register_copy is idempotent by request id
    in_place = request.target_account == version.account
    adopted = None if in_place else _existing_copy(run.catalog, request.version_id, request.target_account)
    if adopted is not None:
        target_id, target_ref = adopted.version_id, adopted.source_ref
    else:
        target = _promoter(run.factory(request.target_account), request.target_account).register_copy(
            record, source,
            PromotionRef(request_id=request.request_id, ledger_hash=approval_hash, source_account=version.account,
                         source_ref=version.source_ref, approved_by=approvers, environment=request.to_env,
                         artifact_sha256=run.truth.artifact_sha256),
        )
        target_id = version_id_for(request.target_account, target.model, target.version)
        target_ref = target.source_ref
    run.advance("target_registered", "execute.target_registered",
                {"target_account": request.target_account, "target_version_id": target_id,
                 "target_ref": target_ref, "adopted": adopted is not None}, target_version_id=target_id)


def _default_connector(workspace: Workspace, settings: Settings, account: str) -> Connector:
    from governance.sources import connector_for

    return connector_for(workspace, settings, account)


def _advance(workspace: Workspace, catalog: Catalog, actor: Identity, request_id: str, at: dt.datetime, state: str,
             action: str, payload: dict[str, Any], **columns: Any) -> None:
    with catalog.transaction() as con:
        ledger.require_sealed_tail(workspace, con, f"the execution of {request_id}")
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


# The names other lifecycle services share with promotion (governance.fallback executes through the same connectors).
record_of = _record_of
refresh_accounts = _refresh
promoter_of = _promoter
