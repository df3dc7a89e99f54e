"""Ongoing oversight of the versions in use, as the Oversight page and the CLI (``due``, ``review-periodic``,
``monitor``, ``notify``) see and act on it: the review calendar, triggered re-validations, the binding check's
findings, periodic reviews, scheduled monitoring and notifications."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.progress import ProgressFn, no_progress
from governance.context import Context
from governance.oversight import OUTCOME_HELP, OUTCOMES, SORTS
from governance.usecases.selection import Choice, Wanted, choose

if TYPE_CHECKING:
    from governance.binding import Finding
    from governance.notify import NotifyReport
    from governance.oversight import MonitorResult, PeriodicReview, Schedule

__all__ = ["OUTCOMES", "OUTCOME_HELP", "SORTS", "MonitorReport", "OversightQuery", "OversightView",
           "PeriodicReviewCommand", "due", "monitor", "notify", "open_oversight", "record_review"]


@dataclass(frozen=True)
class OversightQuery:
    """How the calendar is sorted and filtered, and which version the review form is about."""

    sort: str = "due"
    only_attention: bool = False
    version: Wanted = field(default_factory=Wanted)


@dataclass(frozen=True)
class OversightView:
    """The Oversight page: the calendar, what serves unapproved, who may review, recent reviews."""

    plan: Schedule
    findings: tuple[Finding, ...]
    due_soon_days: int
    can_review: bool
    choice: Choice  # the versions under oversight, for the review form
    recent: tuple[PeriodicReview, ...]


@dataclass(frozen=True)
class PeriodicReviewCommand:
    """A risk officer's periodic review of a version in use; ``refresh`` recomputes drift and bias first."""

    version_id: str
    outcome: str
    comment: str
    refresh: bool = True
    now: dt.datetime | None = None


@dataclass(frozen=True)
class MonitorReport:
    """Scheduled monitoring's results and the binding check's findings (either fails ``countersign monitor``)."""

    results: tuple[MonitorResult, ...]
    findings: tuple[Finding, ...]

    @property
    def failing(self) -> bool:
        """Whether a breach, a change above the ceiling or an unapproved deployment was found."""
        return any(r.failing for r in self.results) or bool(self.findings)


def open_oversight(ctx: Context, query: OversightQuery) -> OversightView:
    """The Oversight page's one call."""
    from governance.binding import check_deployments
    from governance.oversight import reviews, schedule

    plan = schedule(ctx, sort=query.sort or "due", only_attention=query.only_attention)
    choice = choose([i.version_id for i in plan.items], query.version)
    return OversightView(plan, tuple(check_deployments(ctx)), ctx.settings.oversight.due_soon_days,
                         ctx.identity.can("review_periodic"), choice, tuple(reviews(ctx.catalog)[:50]))


def due(ctx: Context, *, now: dt.datetime | None = None, sort: str = "due", only_attention: bool = True) -> Schedule:
    """The review calendar (``countersign due``)."""
    from governance.oversight import schedule

    return schedule(ctx, now=now, sort=sort, only_attention=only_attention)


def record_review(ctx: Context, command: PeriodicReviewCommand, progress: ProgressFn = no_progress) -> PeriodicReview:
    """Record a periodic review as ``ctx``'s identity (the Record review button, ``countersign review-periodic``)."""
    from governance.oversight import record_review as record

    return record(ctx, command.version_id, command.outcome, command.comment, refresh=command.refresh,
                  progress=progress, now=command.now)


def monitor(ctx: Context, *, everything: bool = False, now: dt.datetime | None = None,
            progress: ProgressFn = no_progress) -> MonitorReport:
    """Recompute drift and bias where monitoring is due (``everything``: of every version in use) and run the binding
    check: what serves must be what Countersign approved."""
    from governance.binding import check_deployments
    from governance.oversight import monitor as run

    results = run(ctx, everything=everything, now=now, progress=progress)
    return MonitorReport(tuple(results), tuple(check_deployments(ctx)))


def notify(ctx: Context, environ: Mapping[str, str], *, dry_run: bool = False, monitor_first: bool = False,
           now: dt.datetime | None = None, progress: ProgressFn = no_progress) -> tuple[NotifyReport, tuple[Finding, ...]]:
    """Send what is due by e-mail and webhook (secrets read from ``environ``, the variables countersign.toml names);
    with the binding check's findings when the report names unapproved deployments."""
    from governance.binding import check_deployments
    from governance.notify import notify as send
    from governance.notify import transports
    from governance.oversight import monitor as run
    from governance.oversight_settings import read_secrets

    mailer, poster = transports(ctx.settings, read_secrets(ctx.settings.notify, environ), root=ctx.workspace.root)
    if monitor_first:
        run(ctx, progress=progress)
    report = send(ctx, mailer=mailer, poster=poster, now=now, dry_run=dry_run)
    return report, tuple(check_deployments(ctx)) if report.unapproved else ()
