"""Promotion requests, as the Requests page and the CLI (``request``, ``approve``, ``reject``, ``cancel``,
``execute``, ``requests``) see and decide them.

:func:`open_requests` is the page's one call: the queue, the filters' outcome and the request shown
(:func:`open_request`). A :class:`RequestView` carries the gate checklist it was evaluated with, and what it was
evaluated on (:mod:`governance.usecases.basis`): a decision taken on that view (:class:`ApproveCommand` ``seen=``)
reuses the checklist while nothing it read changed, so one approval round trip — open, confirm, approve, redraw —
evaluates the gates once. The decision itself is :mod:`governance.signoff` / :mod:`governance.promotion`, unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import CountersignError, InputError
from governance.catalog.signoff import Request
from governance.context import Context
from governance.usecases.basis import Basis, basis_of, still_holds, valid_until
from governance.usecases.selection import Choice, Wanted, choose

if TYPE_CHECKING:
    import pandas as pd

    from governance.policy import Checklist
    from governance.promotion import RiskAcceptance
    from governance.signoff import ApprovalPreview, DecisionOutcome, RequestReview

STATUSES = ("pending", "approved", "executing", "failed", "executed", "rejected", "cancelled")
EVIDENCE_TITLE = {"drift": "Drift", "bias": "Bias", "explain": "Explainability",
                  "drift_reported": "Drift reported by the pipeline"}
EVIDENCE_WORD = {"explain": "explainability"}  # evidence kind → the word people read


# -- commands -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateRequestCommand:
    """Ask to promote ``version_id`` into ``to_env`` (``target_account`` when several accounts hold it)."""

    version_id: str
    to_env: str
    reason: str
    target_account: str | None = None


@dataclass(frozen=True)
class ApproveCommand:
    """Approve ``request_id`` with ``comment``; ``acceptance`` records a risk acceptance with it; ``seen`` is the
    view the approver decided on (its checklist is reused while it holds); ``execute`` runs the promotion at once
    when the approval completes it and the approver may execute."""

    request_id: str
    comment: str
    acceptance: RiskAcceptance | None = None
    seen: RequestView | None = None
    execute: bool = True


@dataclass(frozen=True)
class RejectCommand:
    """Reject ``request_id`` with ``comment`` (``seen``: as for :class:`ApproveCommand`)."""

    request_id: str
    comment: str
    seen: RequestView | None = None


@dataclass(frozen=True)
class CancelCommand:
    """Withdraw ``request_id`` (its requester, or an admin)."""

    request_id: str
    comment: str = ""


@dataclass(frozen=True)
class ExecuteCommand:
    """Execute or retry ``request_id``; ``takeover`` resumes one whose executor died."""

    request_id: str
    takeover: bool = False


Command = ApproveCommand | RejectCommand | CancelCommand | ExecuteCommand


# -- views --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One ledger entry about a request, as the decision history lists it."""

    seq: int
    recorded_at: dt.datetime
    actor: str
    action: str
    comment: str


@dataclass(frozen=True)
class RequestView:
    """One request as a decision-maker sees it, with the checklist it was shown with and what that was read on."""

    review: RequestReview
    lineage: tuple[str, ...]
    history: tuple[HistoryRow, ...]
    basis: Basis
    holds_until: dt.datetime

    @property
    def request(self) -> Request:
        return self.review.request

    @property
    def checklist(self) -> Checklist:
        return self.review.checklist

    @property
    def lacking(self) -> tuple[str, ...]:
        """The evidence kinds a gate reads but found none of, in the words people read."""
        return tuple(EVIDENCE_WORD.get(k, k) for k in self.checklist.evidence_lacking())

    @property
    def progress(self) -> str:
        """Where the approvals stand, in words."""
        from governance.signoff import approval_progress

        return approval_progress(self.request)

    @property
    def deployment_note(self) -> str:
        """After execution: promoted, which is not deployed."""
        from governance.signoff import deployment_note

        return deployment_note(self.request)


@dataclass(frozen=True)
class RequestsQuery:
    """The queue's filters and the request asked for (``request``: widget state, ``?request=`` and the selection
    made on another page); ``version``: ``?version=`` from the Model page."""

    statuses: tuple[str, ...] = ()
    version: str | None = None
    request: Wanted = field(default_factory=Wanted)
    prior: RequestView | None = None  # the view drawn on the previous run (its checklist may still hold)


@dataclass(frozen=True)
class RequestsView:
    """The Requests page: who may ask, what is in the queue, which request is shown."""

    can_request: bool
    versions: tuple[str, ...]  # what a new request may name
    environments: tuple[str, ...]  # where a promotion may go (every environment but the first)
    total: int  # requests in the workspace
    queue: pd.DataFrame  # after the filters
    version: str | None  # the version the queue is narrowed to (?version=)
    version_total: int  # requests of that version, whatever their status
    choice: Choice  # the request picker
    asked_unknown: str | None = None  # ?request= names no request of this workspace
    asked_hidden: str | None = None  # ?request= names one the filters hide
    shown: RequestView | None = None
    error: CountersignError | None = None  # why the chosen request cannot be shown


# -- reading ------------------------------------------------------------------------------------------------------


def open_requests(ctx: Context, query: RequestsQuery) -> RequestsView:
    """The Requests page's one call: the queue narrowed by ``query`` and the request it shows."""
    from governance.promotion import list_requests

    everything = list_requests(ctx.catalog)
    queue = everything
    if query.version:
        queue = queue[queue["version_id"] == query.version]
    version_total = len(queue)
    if query.statuses:
        queue = queue[queue["status"].isin(list(query.statuses))]
    ids = tuple(queue["request_id"])
    known = set(everything["request_id"])
    asked = query.request.link
    unknown = asked if asked and asked not in known else None
    hidden = asked if asked and asked in known and asked not in ids else None
    choice = choose(ids, query.request)
    shown, error = None, None
    if choice.value is not None:
        try:
            shown = open_request(ctx, choice.value, prior=query.prior)
        except CountersignError as exc:
            error = exc
    order = tuple(ctx.settings.environments.order)
    can = ctx.identity.can("request_promotion")
    versions = tuple(r["version_id"] for r in ctx.catalog.inventory_rows()) if can else ()
    return RequestsView(can, versions, order[1:], len(everything), queue, query.version, version_total, choice,
                        unknown, hidden, shown, error)


def open_request(ctx: Context, request_id: str, *, prior: RequestView | None = None,
                 now: dt.datetime | None = None) -> RequestView:
    """One request with everything a decision needs; ``prior`` (the view drawn before) lends its checklist when it
    still holds, so redrawing a request evaluates the gates only when what they read changed."""
    from governance import ledger
    from governance.ledger.subjects import request_subject
    from governance.promotion import get_request
    from governance.signoff import review_request

    request = get_request(ctx.catalog, request_id)
    checklist, basis, until = _checklist(ctx, request, prior, now)
    review = review_request(ctx, request_id, now=now, checklist=checklist)
    lineage = tuple(v.version_id for v in ctx.catalog.lineage(request.version_id))
    history = tuple(
        HistoryRow(e.seq, e.recorded_at, e.actor, e.action,
                   e.payload.get("comment") or e.payload.get("justification") or e.payload.get("reason")
                   or e.payload.get("error") or "")
        for e in ledger.entries_for(ctx.catalog, request_subject(request_id)))
    return RequestView(review, lineage, history, basis, until)


def _checklist(ctx: Context, request: Request, seen: RequestView | None,
               now: dt.datetime | None) -> tuple[Checklist, Basis, dt.datetime]:
    """The gates of ``request``: ``seen``'s when its basis still holds, else evaluated now (the basis read first, so
    a change while the gates run is seen at the next decision)."""
    from governance.policy import evaluate

    if seen is not None and seen.request.request_id == request.request_id \
            and (seen.checklist.version_id, seen.checklist.to_env) == (request.version_id, request.to_env) \
            and still_holds(ctx, seen.basis, seen.holds_until, now):
        return seen.checklist, seen.basis, seen.holds_until
    basis = basis_of(ctx)
    moment = now or dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    checklist = evaluate(ctx.catalog, ctx.settings, request.version_id, request.to_env, now=moment)
    until = valid_until(ctx, checklist.evaluated_at, tuple(e.computed_at for e in checklist.evidence),
                        checklist.tier_name)
    return checklist, basis, until


def _seen_checklist(ctx: Context, request_id: str, seen: RequestView | None) -> Checklist | None:
    """The checklist a decision on ``request_id`` may reuse from the view it was taken on, or None (evaluate)."""
    if seen is None or seen.request.request_id != request_id:
        return None
    if not still_holds(ctx, seen.basis, seen.holds_until):
        return None
    return seen.checklist


def list_requests(ctx: Context, *, statuses: Sequence[str] = (), model: str | None = None) -> pd.DataFrame:
    """Requests (newest first) with their approval count: ``countersign requests``."""
    from governance.promotion import list_requests as queue

    return queue(ctx.catalog, statuses=tuple(statuses), model=model)


# -- deciding -----------------------------------------------------------------------------------------------------


def create_request(ctx: Context, command: CreateRequestCommand) -> Request:
    """Ask for a promotion as ``ctx``'s identity (the gates are recorded with it, the artifact's digest frozen)."""
    from governance.promotion import create_request as create

    return create(ctx, command.version_id, command.to_env, command.reason, target_account=command.target_account)


def preview_approval(ctx: Context, command: ApproveCommand, *, check: bool = True) -> ApprovalPreview:
    """What approving would do, said before it happens; with ``check`` only after every check approving makes (role,
    four eyes, comment, bytes, gates, risk acceptance) has passed without writing anything, raising what approving
    would raise. Without it, only the words (a confirmation already checked, redrawn)."""
    from governance.signoff import approval_preview, check_approval

    if command.seen is None or command.seen.request.request_id != command.request_id:
        raise InputError(f"preview the approval of {command.request_id} from its view (open_request)")
    if check:
        check_approval(ctx, command.request_id, command.comment, risk_acceptance=command.acceptance,
                       checklist=_seen_checklist(ctx, command.request_id, command.seen))
    return approval_preview(command.seen.review, ctx.identity, command.acceptance)


def approve(ctx: Context, command: ApproveCommand) -> DecisionOutcome:
    """Approve as ``ctx``'s identity, on the checklist of the view seen when it still holds; executes at once when
    the approval completes the request and the approver may execute."""
    from governance.signoff import decide as carry_out

    return carry_out(ctx, command.request_id, "approve", command.comment, risk_acceptance=command.acceptance,
                     execute_after_approval=command.execute, checklist=_seen_checklist(ctx, command.request_id, command.seen))


def reject(ctx: Context, command: RejectCommand) -> DecisionOutcome:
    """Reject as ``ctx``'s identity (the rejection records the checklist of the view seen when it still holds)."""
    from governance.signoff import decide as carry_out

    return carry_out(ctx, command.request_id, "reject", command.comment,
                     checklist=_seen_checklist(ctx, command.request_id, command.seen))


def cancel(ctx: Context, command: CancelCommand) -> DecisionOutcome:
    """Withdraw a request as ``ctx``'s identity."""
    from governance.signoff import decide as carry_out

    return carry_out(ctx, command.request_id, "cancel", command.comment)


def execute(ctx: Context, command: ExecuteCommand) -> DecisionOutcome:
    """Execute or retry a request as ``ctx``'s identity."""
    from governance.signoff import decide as carry_out

    return carry_out(ctx, command.request_id, "execute", takeover=command.takeover)


def decide(ctx: Context, command: Command) -> DecisionOutcome:
    """Carry out whichever decision ``command`` is (the page's action buttons)."""
    handlers: dict[type, Any] = {ApproveCommand: approve, RejectCommand: reject, CancelCommand: cancel,
                                 ExecuteCommand: execute}
    return handlers[type(command)](ctx, command)
