"""The use cases (governance/usecases/): what one screen or command costs, counted.

Opening Review reads stored evidence from the catalog (no connector built, no file fetched); an approval round trip
(open the request, check and confirm the approval, approve) evaluates the gate checklist once, and again only when
something the gates read changed in between; a model's tier read from a catalog that cannot be read fails closed.
The counters are spies: they call the real functions (tests/spies.py).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from pathlib import Path

import pytest

from core.errors import CatalogBusy
from core.structs import replace
from governance import ledger
from governance.catalog import Catalog
from governance.config import Workspace, load_settings
from governance.context import Context
from governance.demo_history import open_request_id
from governance.identity import identity_for
from governance.ledger.subjects import account_subject, request_subject
from governance.usecases.requests import ApproveCommand, approve, open_request, preview_approval
from governance.usecases.review import KINDS, ReviewQuery, open_review
from governance.usecases.selection import Wanted
from tests.spies import count_connector_calls, count_gate_evaluations

D = "demo.countersign.dev"
STORED = "lab-staging:claims-fraud:3"  # the demo version with drift, bias and explain evidence stored
PARTLY = "lab-staging:claims-fraud:1"  # bias stored; drift and explain not


def ctx_as(ws: Workspace, persona: str, **catalog_kw) -> Context:
    settings = load_settings(ws)
    return Context(ws, settings, Catalog(ws.catalog_path, **catalog_kw),
                   identity_for(settings, f"{persona}@{D}", source="demo"))


def stored_ids(catalog: Catalog, version_id: str) -> dict[str, str]:
    """The newest evidence id of each kind, read with plain SQL (the oracle for what Review shows)."""
    rows = catalog.query_df("SELECT kind, evidence_id FROM evidence WHERE version_id = ? ORDER BY computed_at",
                            [version_id])
    return dict(zip(rows["kind"], rows["evidence_id"], strict=True))


def test_review_with_stored_evidence_builds_no_connector_and_fetches_nothing(demo_workspace, monkeypatch) -> None:
    ctx = ctx_as(demo_workspace, "risk.officer")
    calls = count_connector_calls(monkeypatch)
    gates = count_gate_evaluations(monkeypatch)
    view = open_review(ctx, ReviewQuery(Wanted(state=STORED)))
    assert view.error is None
    assert {k: view.item(k).evidence.evidence_id for k in KINDS} == stored_ids(ctx.catalog, STORED)
    assert {view.item(k).status for k in KINDS} == {"cached"}
    assert calls.built == [] and calls.fetched == []
    assert len(gates) == 1  # the drift gates, once, on the evidence shown
    assert view.drift_gate is not None and view.drift_gate.result is not None


def test_review_fetches_only_to_say_why_a_kind_has_nothing_stored(demo_workspace, monkeypatch) -> None:
    ctx = ctx_as(demo_workspace, "risk.officer")
    calls = count_connector_calls(monkeypatch)
    view = open_review(ctx, ReviewQuery(Wanted(state=PARTLY)))
    assert view.item("bias").status == "cached"
    assert view.item("drift").status == "missing" and view.item("explain").status == "missing"
    # the stored kind costs nothing; the two missing ones are looked for, never computed
    assert not any("/bias" in u for u in calls.fetched)
    assert ctx.catalog.query_df("SELECT count(*) n FROM evidence WHERE version_id = ?", [PARTLY])["n"][0] == 1


def test_an_approval_round_trip_evaluates_the_gates_once(demo_copy, monkeypatch) -> None:
    ctx = ctx_as(demo_copy, "risk.officer")
    rid = open_request_id(ctx.catalog)
    gates = count_gate_evaluations(monkeypatch)
    shown = open_request(ctx, rid)  # the page draws the request
    command = ApproveCommand(rid, "Evidence reviewed.", seen=shown)
    preview_approval(ctx, command)  # Approve: every check approving makes, nothing written
    redrawn = open_request(ctx, rid, prior=shown)  # the confirmation's rerun draws the request again
    preview_approval(ctx, ApproveCommand(rid, "Evidence reviewed.", seen=redrawn), check=False)
    done = approve(ctx, ApproveCommand(rid, "Evidence reviewed.", seen=redrawn))  # Confirm approval
    assert not done.failed, done.message
    assert gates == [(shown.request.version_id, shown.request.to_env)]
    # the decision recorded the checklist it was taken on
    entries = ledger.entries_for(ctx.catalog, request_subject(rid))
    approved = next(e for e in entries if e.action == "request.approve")
    assert approved.payload["gates"] == {r.gate: r.status for r in shown.checklist.results}


def test_a_decision_evaluates_again_when_the_ledger_moved_after_the_view(demo_copy, monkeypatch) -> None:
    ctx = ctx_as(demo_copy, "risk.officer")
    rid = open_request_id(ctx.catalog)
    gates = count_gate_evaluations(monkeypatch)
    shown = open_request(ctx, rid)
    ledger.append(ctx.catalog, actor="ml.engineer@example.org", action="sync.run", subject=account_subject("lab-staging"))
    approve(ctx, ApproveCommand(rid, "Evidence reviewed.", seen=shown))
    assert len(gates) == 2  # the view's checklist no longer holds: the decision read the gates again


def test_a_decision_evaluates_again_once_the_view_is_too_old(demo_copy, monkeypatch) -> None:
    ctx = ctx_as(demo_copy, "risk.officer")
    rid = open_request_id(ctx.catalog)
    gates = count_gate_evaluations(monkeypatch)
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)
    shown = open_request(ctx, rid)
    assert shown.holds_until < later
    assert open_request(ctx, rid, prior=shown, now=later) is not None
    assert len(gates) == 2


def test_a_models_tier_read_from_a_locked_catalog_fails_closed(demo_copy: Workspace) -> None:
    """Reading the tier must not fall back to the default tier (fewer gates) when the catalog cannot be read."""
    from governance.policy import model_tier

    settings = replace(load_settings(demo_copy), models={})  # the tier comes from the catalog
    catalog = Catalog(demo_copy.catalog_path, busy_timeout=0.3)
    model = "credit-approval"
    tier, _ = model_tier(catalog, settings, model)
    assert tier != settings.policy.default_tier  # so a fallback would be visible
    lock = os.open(Path(f"{catalog.path}.lock"), os.O_RDWR)  # another process's hold on the catalog
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        with pytest.raises(CatalogBusy):
            model_tier(catalog, settings, model)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    assert model_tier(catalog, settings, model)[0] == tier
