"""Sign-off as a service: what the Requests page and the CLI both call to show a request and to decide on it.

:func:`review_request` gathers one request with everything a decision needs (its version, the gate checklist,
the gates that block approval now, what the person may do). :func:`decide` carries out one action — approve,
reject, cancel or execute — and, when an approval completes the request and the approver may execute, runs the
execution at once; it returns a typed :class:`DecisionOutcome`. Both take one :class:`~governance.context.Context`
(the CLI's opened workspace, the portal's session) whose identity acts. The rules themselves live in
``governance.promotion`` and ``governance.policy``; nothing here decides differently for a page or a command; the
use cases (``governance.usecases.requests``) evaluate the gates once per view and pass that checklist on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from core.errors import CountersignError, InputError
from governance.catalog import AcceptanceRow, Catalog, Version
from governance.context import Context
from governance.execution import execute
from governance.identity import Identity
from governance.policy import Checklist, EvidenceRef, GateResult, catalog_evidence, evaluate, policy_version
from governance.promotion import (
    ConnectorFactory,
    Decision,
    FollowUp,
    Request,
    RiskAcceptance,
    allowed_actions,
    approve,
    blocking_gates,
    cancel,
    follow_ups,
    four_eyes_problem,
    get_request,
    reject,
)
from governance.snapshot import DecisionSnapshot, SnapshotChanges, changes_since, latest_snapshot

Action = Literal["approve", "reject", "cancel", "execute"]
ACTIONS: tuple[Action, ...] = ("approve", "reject", "cancel", "execute")
Outcome = Literal["pending", "approved", "executing", "executed", "failed", "rejected", "cancelled"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class RequestReview:
    """One request as a decision-maker sees it, evaluated at ``now``."""

    request: Request
    version: Version
    checklist: Checklist
    blocking: tuple[GateResult, ...]
    actions: frozenset[str]
    now: dt.datetime
    # the newest approval or rejection as it was taken (None before the first), and what changed since
    snapshot: DecisionSnapshot | None = None
    changes: SnapshotChanges | None = None
    # the evidence that decision saw, read back by id (rows never change), in the order it listed them
    snapshot_evidence: tuple[EvidenceRef, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()
    me: str = ""
    # the evidence stored for the version (its own, or inherited along the lineage), newest of each kind, whether
    # or not a gate of the tier reads it
    stored_evidence: tuple[EvidenceRef, ...] = ()

    @property
    def approved_by_me(self) -> bool:
        """Whether the person this review is for has approved the request already."""
        return self.me.lower() in {a.lower() for a in self.request.approvers}

    @property
    def blocking_gates(self) -> tuple[str, ...]:
        """Names of the gates that block approval now (a risk acceptance may name only these)."""
        return tuple(r.gate for r in self.blocking)

    def expired(self, acceptance: Decision) -> bool:
        """Whether a risk acceptance of this request has lapsed (as of :attr:`now`)."""
        return acceptance.expired(self.now)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th … 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def approval_progress(request: Request) -> str:
    """Where the approvals of a request stand, in words: ``1 of 2 approvals, waiting for another risk officer``."""
    have, need = len(request.approvers), request.approvals_required
    if request.status != "pending":
        return f"{have} of {need} approvals"
    if have == 0:
        return f"0 of {need} approvals, waiting for a risk officer"
    return f"{have} of {need} approvals, waiting for another risk officer"


def promotion_effect(request: Request, source_account: str) -> str:
    """What executing ``request`` does, and what it does not: promotion registers (or, within one registry whose
    labels mean environments, moves the label), the target deploys."""
    if request.target_account == source_account:  # an MLflow alias or a ZenML stage that means the environment
        what = (f"move the registry label that means {request.to_env} in account {source_account} (an alias or a "
                f"stage) onto {request.version_id} and mark it Approved there")
    else:
        what = (f"register {request.version_id} in account {request.target_account} ({request.to_env}) and mark it "
                f"Approved in the source registry ({source_account})")
    return (f"{what}. Deploying it is not part of the promotion: that is {request.target_account}'s own deployment "
            "pipeline")


def deployment_note(request: Request) -> str:
    """After execution: the version is promoted (registered and approved), which is not the same as deployed."""
    target = request.target_version_id or "the new version"
    if request.target_version_id == request.version_id:  # the label moved onto the version itself
        done = (f"Promoted in place: {target} now holds the registry label that means {request.to_env} in account "
                f"{request.target_account} and is marked Approved there.")
    else:
        done = (f"Promoted as {target}: registered in account {request.target_account} and marked Approved in the "
                "source registry.")
    return (f"{done} Not deployed by Countersign: {request.target_account}'s own pipeline deploys it "
            f"to {request.to_env}, and the inventory shows it as serving once that has happened.")


def review_request(ctx: Context, request_id: str, *, now: dt.datetime | None = None,
                   checklist: Checklist | None = None) -> RequestReview:
    """The request ``request_id`` with its version, gate checklist (``checklist``: one evaluated for it just now,
    else the gates are evaluated), blocking gates and the actions open to ``ctx``'s identity (read only)."""
    catalog, settings, identity = ctx.catalog, ctx.settings, ctx.identity
    moment = now or _now()
    request = get_request(catalog, request_id)
    version = catalog.version(request.version_id)
    if checklist is None or (checklist.version_id, checklist.to_env) != (request.version_id, request.to_env):
        checklist = evaluate(catalog, settings, request.version_id, request.to_env, now=moment)
    snapshot = latest_snapshot(request.decisions)
    changes, seen = None, ()
    if snapshot is not None:
        changes = changes_since(snapshot, checklist, policy_version(settings, checklist.tier_name, ctx.workspace.root))
        seen = tuple(EvidenceRef(r.evidence_id, r.kind, r.computed_at, r.summary)
                     for r in catalog.evidence_records_by_id(snapshot.evidence_ids))
    return RequestReview(request, version, checklist, blocking_gates(request, checklist, moment),
                         allowed_actions(identity, request, version, settings.person), moment, snapshot, changes, seen,
                         follow_ups(catalog, request, moment), identity.email,
                         stored_evidence(catalog, request.version_id))


# every kind of evidence a version can have stored: computed by Countersign, or reported by a pipeline
STORED_KINDS = ("drift", "bias", "explain", "drift_reported")


def stored_evidence(catalog: Catalog, version_id: str) -> tuple[EvidenceRef, ...]:
    """The newest stored evidence of each kind for ``version_id`` (through the lineage where a promoted copy
    inherits it), whether or not a gate reads it."""
    lookup = catalog_evidence(catalog)
    return tuple(ref for kind in STORED_KINDS if (ref := lookup(version_id, kind)) is not None)

@dataclass(frozen=True)
class ApprovalPreview:
    """What pressing Approve will do, told before it happens (the confirmation the Requests page shows)."""

    approval_number: int
    approvals_required: int
    completes: bool
    executes: bool
    text: str


def approval_preview(review: RequestReview, identity: Identity,
                     risk_acceptance: RiskAcceptance | None = None) -> ApprovalPreview:
    """What approving ``review``'s request as ``identity`` will do: record approval N of M, and, when it is the last
    one and the approver may execute, promote the version (:func:`decide` does exactly this)."""
    request = review.request
    n, m = len(request.approvers) + 1, request.approvals_required
    completes = n >= m
    executes = completes and identity.can("execute")
    # "the 1st of 1 approval" reads as a counting error: one approval is the only one
    which = "This is the only approval needed" if m == 1 else f"This is the {ordinal(n)} of {m} approvals"
    if executes:
        body = (f"{which}: approving will promote {request.version_id} to {request.to_env} "
                f"({promotion_effect(request, review.version.account)}).")
    elif completes:
        body = (f"{which}: approving completes the sign-off of {request.version_id} for {request.to_env}; an "
                f"ML engineer or admin then executes the promotion ({promotion_effect(request, review.version.account)}).")
    else:
        body = (f"{which}: approving records your approval only. Nothing is promoted yet: the request then waits "
                f"for another risk officer ({n} of {m} approvals).")
    if risk_acceptance is not None:
        body += (f" Your risk acceptance of {', '.join(risk_acceptance.gates)} is recorded with it, until "
                 f"{risk_acceptance.expires_at:%Y-%m-%d}.")
    return ApprovalPreview(n, m, completes, executes, body)


def check_approval(ctx: Context, request_id: str, comment: str, *, risk_acceptance: RiskAcceptance | None = None,
                   now: dt.datetime | None = None, checklist: Checklist | None = None) -> None:
    """Raise what approving as ``ctx``'s identity would raise now (role, four eyes, comment, bytes, gates, risk
    acceptance), writing nothing."""
    approve(ctx, request_id, comment, risk_acceptance=risk_acceptance, now=now, dry_run=True, checklist=checklist)


def awaiting_approval(ctx: Context) -> tuple[Request, ...]:
    """Pending requests that ``ctx``'s identity may approve now: the role allows it and four eyes does not forbid it
    (not their own request, not their own version, not approved by them already). Oldest first."""
    catalog, identity, settings = ctx.catalog, ctx.identity, ctx.settings
    if not identity.can("approve"):
        return ()
    out = []
    for request in catalog.requests_in(("pending",)):
        try:
            version = catalog.version(request.version_id)
        except CountersignError:  # the version left the catalog: nothing to approve here
            continue
        if four_eyes_problem(identity.email, request, version, settings.person) is None:
            out.append(request)
    return tuple(out)


ACCEPTANCE_SOON = dt.timedelta(days=30)
AcceptanceState = Literal["expired", "expiring soon", "in force"]


@dataclass(frozen=True)
class AcceptanceEntry:
    """One line of the register of risk acceptances: who accepted which gates, for which request, until when."""

    decision_id: str
    request_id: str
    version_id: str
    to_env: str
    target_account: str
    request_status: str
    accepted_by: str
    accepted_at: dt.datetime
    expires_at: dt.datetime | None
    gates: tuple[str, ...]
    justification: str
    state: AcceptanceState
    days_left: int | None

    def to_json(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def acceptance_register(catalog: Catalog, *, now: dt.datetime | None = None,
                        soon: dt.timedelta = ACCEPTANCE_SOON) -> tuple[AcceptanceEntry, ...]:
    """Every risk acceptance, soonest expiry first, marked ``expired``, ``expiring soon`` (within ``soon``) or
    ``in force`` as of ``now``."""
    moment = now or _now()
    return tuple(_entry(row, moment, soon) for row in catalog.risk_acceptances())


def _entry(row: AcceptanceRow, now: dt.datetime, soon: dt.timedelta) -> AcceptanceEntry:
    expires = row.expires_at
    if expires is not None and expires <= now:
        state: AcceptanceState = "expired"
    elif expires is not None and expires - now <= soon:
        state = "expiring soon"
    else:
        state = "in force"
    return AcceptanceEntry(
        decision_id=row.decision_id, request_id=row.request_id, version_id=row.version_id, to_env=row.to_env,
        target_account=row.target_account, request_status=row.request_status, accepted_by=row.actor,
        accepted_at=row.created_at, expires_at=expires, gates=tuple(row.payload.get("gates", ())),
        justification=row.comment or str(row.payload.get("justification", "")), state=state,
        days_left=None if expires is None else (expires - now).days,
    )


@dataclass(frozen=True)
class DecisionOutcome:
    """Where a request stands after one action: ``pending`` (N of M approvals), ``approved`` (awaiting
    execution), ``executed``, ``failed`` (execution failed; retry with execute), ``rejected`` or ``cancelled``."""

    action: Action
    request: Request
    executed_now: bool = False

    @property
    def outcome(self) -> Outcome:
        return self.request.status  # type: ignore[return-value]

    @property
    def approvals(self) -> int:
        return len(self.request.approvers)

    @property
    def approvals_required(self) -> int:
        return self.request.approvals_required

    @property
    def failed(self) -> bool:
        """Whether execution failed (the CLI exits 1, the page warns)."""
        return self.outcome == "failed"

    @property
    def explanation(self) -> str:
        """What the outcome means for people: how many approvals are still missing, or promoted-not-deployed."""
        if self.outcome == "pending":
            return approval_progress(self.request) + "."
        if self.outcome == "executed":
            return deployment_note(self.request)
        if self.outcome == "approved":
            return "Signed off; an ML engineer or admin executes the promotion."
        return ""

    @property
    def message(self) -> str:
        """One line for people: ``PR-… is executed.`` or ``PR-… is failed: <step>: <error>``."""
        rid = self.request.request_id
        if self.failed:
            return f"{rid} is {self.outcome}: {self.request.execution_error}"
        return f"{rid} is {self.outcome}."


def decide(
    ctx: Context,
    request_id: str,
    action: Action,
    comment: str = "",
    *,
    risk_acceptance: RiskAcceptance | None = None,
    execute_after_approval: bool = True,
    takeover: bool = False,
    connectors: ConnectorFactory | None = None,
    now: dt.datetime | None = None,
    checklist: Checklist | None = None,
) -> DecisionOutcome:
    """Carry out ``action`` on a request as ``ctx``'s identity; an approval that completes the request is executed
    at once when ``execute_after_approval`` and the approver may execute. Role and four-eyes checks happen inside;
    ``checklist`` is the gates of the request as the decision-maker saw them (evaluated now when None).

    Raises the errors of the action itself (:class:`AccessDenied`, :class:`ConflictError`, :class:`InputError`);
    a failed execution is not an error but the outcome ``failed``.
    """
    if action not in ACTIONS:
        raise InputError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
    if risk_acceptance is not None and action != "approve":
        raise InputError("a risk acceptance goes only with an approval")
    if action == "approve":
        request = approve(ctx, request_id, comment, risk_acceptance=risk_acceptance, now=now, checklist=checklist)
        if request.status == "approved" and execute_after_approval and ctx.identity.can("execute"):
            request = execute(ctx, request_id, connectors=connectors, now=now)
            return DecisionOutcome(action, request, executed_now=True)
        return DecisionOutcome(action, request)
    if action == "reject":
        return DecisionOutcome(action, reject(ctx, request_id, comment, now=now, checklist=checklist))
    if action == "cancel":
        return DecisionOutcome(action, cancel(ctx, request_id, comment, now=now))
    request = execute(ctx, request_id, takeover=takeover, connectors=connectors, now=now)
    return DecisionOutcome(action, request, executed_now=True)
