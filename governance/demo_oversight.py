"""The demo's periodic reviews (planted truth 6 of docs/demo.md), recorded through :func:`record_review`.

Dates count back from the day the demo is built, so a fresh demo always shows ``lab-prod:credit-approval:1`` (high
tier, reviewed every 90 days) overdue by 10 days and ``lab-prod:claims-fraud:2`` (medium tier, every 180 days) due in
5 days; ``lab-prod:repair-cost:2`` (never approved) has never been reviewed.
"""

from __future__ import annotations

import datetime as dt

from governance.context import Context
from governance.identity import identity_for
from governance.oversight import record_review

DOMAIN = "demo.countersign.dev"

# (version, reviewer persona, days before the build, outcome, comment)
REVIEWS: tuple[tuple[str, str, int, str, str], ...] = (
    ("lab-prod:credit-approval:1", "validator", 100, "continue",
     "Quarterly review: approval rates stable by gender and age band; no override spike. Continue unchanged."),
    ("lab-prod:claims-fraud:2", "risk.officer", 175, "restrict",
     "Half-yearly review: claim amounts rising with inflation. Keep in use for investigator triage only; "
     "no automatic rejections until retrained."),
)


def seed_reviews(ctx: Context, today: dt.datetime) -> None:
    """Record the demo's past periodic reviews (stored evidence cited as it was; nothing recomputed)."""
    for version_id, who, days_ago, outcome, comment in REVIEWS:
        reviewer = ctx.acting_as(identity_for(ctx.settings, f"{who}@{DOMAIN}", source="demo"))
        record_review(reviewer, version_id, outcome, comment, refresh=False, now=today - dt.timedelta(days=days_ago))
