"""A realistic past for the demo workspace, made through the same functions people use.

``countersign demo`` calls :func:`seed_history` after the first sync. It replays, with dates in the demo's
timeline, the promotions that put today's production versions there (each adopted by execution, since the copy
already exists), a rejection, a risk acceptance, and one open request waiting for the risk officer. Every step
goes through :mod:`governance.promotion`, so the ledger, the decisions and the checkpoints are the real thing and
``countersign ledger verify`` passes on a fresh demo. Evidence is computed first where the data allows (bias
for the past promotions; drift, bias and SHAP for the open request), so the gates have something to judge.
"""

from __future__ import annotations

import datetime as dt

from core.clock import utcnow
from core.errors import ConflictError
from governance.catalog import Catalog
from governance.config import Settings
from governance.context import Context
from governance.execution import execute
from governance.identity import Identity, identity_for
from governance.policy import evaluate
from governance.promotion import RiskAcceptance, approve, create_request, get_request, reject

DOMAIN = "demo.countersign.dev"
EPOCH = dt.datetime(2026, 3, 2, 9, 0, 0)  # day 0 of the demo registry (governance.demo.EPOCH)

LEGACY = (
    "Validated under the pre-Countersign process (validation report on file with Model Risk); drift and bias "
    "evidence had not been computed in Countersign yet. Re-validate with Countersign evidence before renewal."
)

# (version id, to env, requested on day, reason, approvals: (persona, day, comment)...)
PAST_PROMOTIONS: tuple[tuple[str, str, float, str, tuple[tuple[str, float, str], ...]], ...] = (
    ("lab-staging:claims-fraud:1", "prod", 7.5, "First production release of the fraud ranking model.",
     (("risk.officer", 8.6, "Validation metrics and card reviewed; fit for investigator prioritisation."),)),
    ("lab-staging:repair-cost:1", "prod", 12.0, "Replace the manual reserve table with the regression model.",
     (("risk.officer", 13.2, "Low tier. R² on hold-out acceptable; reserve team signed off."),)),
    ("lab-staging:credit-approval:1", "prod", 12.5, "Baseline logistic model for credit decision support.",
     (("risk.officer", 13.8, "Coefficients reviewed with credit risk; monotone in DTI as expected."),
      ("validator", 14.6, "Independent validation complete; second approval under the high-risk tier."))),
    ("lab-staging:claims-fraud:2", "prod", 28.0, "Retrained on Q1 claims; AUC up on the hold-out.",
     (("risk.officer", 30.1, "Improvement confirmed; same features as v1."),)),
)


def _persona(settings: Settings, name: str) -> Identity:
    return identity_for(settings, f"{name}@{DOMAIN}", source="demo")


def _as(ctx: Context, name: str) -> Context:
    """``ctx`` acting as the demo persona ``name`` (``risk.officer``, ``ml.engineer`` …)."""
    return ctx.acting_as(_persona(ctx.settings, name))


def _day(day: float) -> dt.datetime:
    return EPOCH + dt.timedelta(days=day)


NO_TRAFFIC = (
    "No production traffic exists before the first deployment, so drift against live data cannot be measured yet; "
    "data capture starts on deployment and drift is reviewed after 30 days."
)


def _acceptance(settings: Settings, catalog: Catalog, version_id: str, to_env: str, day: float) -> RiskAcceptance | None:
    blocking = evaluate(catalog, settings, version_id, to_env, now=_day(day)).blocking
    if not blocking:
        return None
    gates = tuple(r.gate for r in blocking)
    return RiskAcceptance(gates, NO_TRAFFIC if set(gates) <= {"drift", "weighted_drift"} else LEGACY, _day(day + 365))


def _compute_evidence(ctx: Context, version_id: str, kinds: tuple[str, ...]) -> None:
    """Evidence the data scientist computed before the request."""
    from governance.evidence import review_version

    review_version(ctx.workspace, ctx.settings, ctx.catalog, version_id, actor=_persona(ctx.settings, "data.scientist"),
                   kinds=kinds)


def seed_history(ctx: Context) -> None:
    """Replay the demo's past decisions (idempotent: does nothing once requests exist)."""
    settings, catalog = ctx.settings, ctx.catalog
    if catalog.counts()["promotion_requests"]:
        return
    engineer = _as(ctx, "ml.engineer")
    for version_id, to_env, day, reason, approvals in PAST_PROMOTIONS:
        _compute_evidence(ctx, version_id, ("bias",))
        request = create_request(engineer, version_id, to_env, reason, now=_day(day))
        for who, when, comment in approvals:
            request = approve(_as(ctx, who), request.request_id, comment, now=_day(when),
                              risk_acceptance=_acceptance(settings, catalog, version_id, to_env, when)
                              if not request.risk_acceptances else None)
        # The copy in prod exists already (it is what the registry shows), so execution adopts it.
        execute(_as(ctx, "risk.officer"), request.request_id, refresh=False, now=_day(approvals[-1][1] + 0.01))

    # A rejection: the random forest experiment overfit.
    request = create_request(engineer, "lab-dev:repair-cost:3", "staging",
                             "Random forest variant for the reserve model.", now=_day(88.5))
    reject(_as(ctx, "risk.officer"), request.request_id,
           "Hold-out R² drops against v2 and residuals widen for older vehicles; keep v2.", now=_day(89.3))

    # The open request the demo user finds in the queue: claims-fraud v3 to prod, waiting for a risk officer.
    now = utcnow().replace(microsecond=0)
    try:  # periodic reviews of prod versions (governance.oversight): one now overdue, one due within a week
        from governance.demo_oversight import seed_reviews
    except ImportError:
        pass
    else:
        seed_reviews(ctx, now)
    _compute_evidence(ctx, "lab-staging:claims-fraud:3", ("drift", "bias", "explain"))
    try:
        create_request(engineer, "lab-staging:claims-fraud:3", "prod",
                       "v3 adds the online-channel flag; better recall on staged claims in shadow mode.",
                       now=now - dt.timedelta(hours=3))
    except ConflictError:  # already open (a second seeding run)
        pass


def open_request_id(catalog: Catalog) -> str | None:
    """The id of the demo's open request (for tests and the tour)."""
    return catalog.newest_request_id("lab-staging:claims-fraud:3", "pending")


__all__ = ["get_request", "open_request_id", "seed_history"]
