"""Execution of an approved promotion request through the connectors: a resumable state machine.

Steps, recorded in ``execution_state``: ``queued → source_approved → target_registered → done``. Each step is
idempotent on its own (setting an approval twice is harmless; ``register_copy`` finds the copy it made by request id;
a copy already in the target account from the same source version is adopted), so a crash at any point followed by a
retry ends with exactly one target version. A process that died mid-step leaves ``executing``; a retry takes over once
the lease expired or when asked to (``takeover=True``). The request, its decisions and the rules of who may decide
live in :mod:`governance.promotion`.
"""

from __future__ import annotations

import datetime as dt
import inspect
from dataclasses import dataclass
from typing import Any

from connectors.base import Connector, Promoter, PromotionRef, VersionRecord
from core.credentials import redact
from core.errors import ArtifactMismatch, ConflictError, CountersignError
from core.ids import version_id_for
from governance import execution_lock, ledger
from governance.catalog import Catalog, Version
from governance.catalog.signoff import Request, request_state, touch_executing
from governance.config import Settings, Workspace
from governance.context import Context
from governance.identity import Identity, require
from governance.ledger.requests import LedgerRequest
from governance.policy import model_tier, promotion_path
from governance.promotion import (
    LEASE,
    STEPS,
    ConnectorFactory,
    _confirm_bytes,
    _connectors,
    _now,
    _record_of,
    _set,
    _status_in_txn,
    _subject,
    _truth,
    get_request,
)
from governance.promotion import promoter_of as _promoter


class _Superseded(ConflictError):
    """Another executor took the request over (or it was cancelled) while this one ran a step."""


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


def execute(
    ctx: Context,
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
    (``takeover=True`` resumes one whose executor died). ``ctx``'s identity is the executor.
    """
    workspace, settings, catalog, actor = ctx.workspace, ctx.settings, ctx.catalog, ctx.identity
    require(actor, "execute")
    factory = _connectors(ctx, connectors)
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
    _confirm_bytes(ctx, request_id, factory, version, "execution", "execution.refused", moment, fresh=True)
    run = _Run(ctx, request, version, factory, now, refresh)
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

    ctx: Context
    request: Request
    version: Version
    factory: ConnectorFactory
    now: dt.datetime | None  # a given ``now`` (replayed history) stamps every step; otherwise real time
    refresh: bool = True  # re-read both accounts at the end, so the catalog shows the result at once
    truth: LedgerRequest | None = None
    payload: dict[str, Any] | None = None
    step: str = "source_approved"

    @property
    def workspace(self) -> Workspace:
        return self.ctx.workspace

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def catalog(self) -> Catalog:
        return self.ctx.catalog

    @property
    def actor(self) -> Identity:
        return self.ctx.identity

    def clock(self) -> dt.datetime:
        return self.now or _now()

    def advance(self, state: str, action: str, payload: dict[str, Any], **columns: Any) -> None:
        _advance(self.ctx, self.request.request_id, self.clock(), state, action, payload, **columns)


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
    refreshed = _refresh(run.ctx, (version.account, request.target_account), request.request_id) \
        if run.refresh else []
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


def _advance(ctx: Context, request_id: str, at: dt.datetime, state: str, action: str, payload: dict[str, Any],
             **columns: Any) -> None:
    with ctx.catalog.transaction() as con:
        ledger.require_sealed_tail(ctx.workspace, con, f"the execution of {request_id}")
        status, _, _, _ = _status_in_txn(con, request_id)
        if status != "executing":  # someone took over or cancelled meanwhile: stop without writing
            raise _Superseded(f"request {request_id} changed to {status} during execution")
        ledger.append(con, actor=ctx.identity.email, action=action, subject=_subject(request_id), payload=payload,
                      at=at)
        _set(con, request_id, at, execution_state=state, **columns)


def _existing_copy(catalog: Catalog, version_id: str, target_account: str) -> Version | None:
    """A version already in the target account that was promoted from ``version_id`` (adopted, not copied again)."""
    return catalog.promoted_copy(version_id, target_account)


def _refresh(ctx: Context, accounts: tuple[str, ...], request_id: str | None = None) -> list[str]:
    """Sync the two accounts an execution touched, so the catalog shows the result at once (best effort).

    The history rows these syncs open are tied to ``request_id`` (Countersign caused those changes)."""
    from governance.sync import sync_account

    # Execution is authorised already; re-reading the accounts it wrote is part of it, not a separate sync right.
    system = ctx.acting_as(Identity(email="system:execution", roles=frozenset({"admin"}), source="system"))
    done = []
    for name in dict.fromkeys(accounts):
        result = sync_account(system, ctx.settings.account(name), request_id=request_id)
        done.append(f"{name}:{result.status}")
    return done


# what governance.fallback shares with execution: the accounts synced after it acts
refresh_accounts = _refresh
