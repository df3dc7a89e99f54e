"""Every role × every sign-off action, through governance/ directly (no UI): carried out, or AccessDenied.

Each action aims at a real target in a private copy of the demo workspace (a pending request, an approved one, a
promotable version), so an allowed call passes the role check *and* the checks after it (four eyes, the request's
status, the gates) and its real outcome is asserted; a refused call writes nothing. The matrix's expectation comes
from PERMISSIONS, the table users read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from core.errors import AccessDenied
from governance import ledger
from governance.catalog import Catalog
from governance.config import ROLES, Settings, Workspace, load_settings
from governance.context import Context
from governance.execution import execute
from governance.identity import PERMISSIONS, Identity
from governance.promotion import RiskAcceptance, approve, cancel, create_request, get_request, list_requests, reject
from governance.signoff import review_request

VERSION = "lab-dev:repair-cost:2"  # low tier: one approval; created by the demo's data scientist
ENGINEER = Identity("setup.engineer@example.org", frozenset({"ml_engineer"}))
OFFICER = Identity("setup.officer@example.org", frozenset({"risk_officer"}))


@dataclass(frozen=True)
class World:
    ws: Workspace
    settings: Settings
    catalog: Catalog


def pending(w: World, requester: Identity = ENGINEER) -> str:
    return create_request(Context(w.ws, w.settings, w.catalog, requester), VERSION, "staging", "authz matrix").request_id


def acceptance(w: World, request_id: str) -> RiskAcceptance | None:
    """A risk acceptance of whatever blocks the request now (the matrix tests roles, not gates)."""
    blocking = review_request(Context(w.ws, w.settings, w.catalog, OFFICER), request_id).blocking_gates
    until = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=30)
    return RiskAcceptance(blocking, "accepted for the role matrix test only", until) if blocking else None


def approved(w: World) -> str:
    rid = pending(w)
    assert approve(Context(w.ws, w.settings, w.catalog, OFFICER), rid, "ok", risk_acceptance=acceptance(w, rid)).status \
        == "approved"
    return rid


def _request(w: World, who: Identity) -> None:
    r = create_request(Context(w.ws, w.settings, w.catalog, who), VERSION, "staging", "why")
    assert (r.status, r.requester, r.version_id) == ("pending", who.email, VERSION)


def _approve(w: World, who: Identity) -> None:
    rid = pending(w)
    r = approve(Context(w.ws, w.settings, w.catalog, who), rid, "ok", risk_acceptance=acceptance(w, rid))
    assert r.approvers == (who.email,) and r.status == "approved"  # the tier needs one approval


def _reject(w: World, who: Identity) -> None:
    r = reject(Context(w.ws, w.settings, w.catalog, who), pending(w), "no")
    assert r.status == "rejected"


def _execute(w: World, who: Identity) -> None:
    r = execute(Context(w.ws, w.settings, w.catalog, who), approved(w))
    assert r.status == "executed", r.execution_error
    assert r.target_version_id and r.target_version_id.startswith("lab-staging:repair-cost:")


def _cancel(w: World, who: Identity) -> None:
    # an engineer cancels their own request; an admin any request
    rid = pending(w, who if who is not None and who.can("request_promotion") else ENGINEER)
    assert cancel(Context(w.ws, w.settings, w.catalog, who), rid).status == "cancelled"


def _verify(w: World, who: Identity) -> None:
    assert ledger.verify(w.ws, w.catalog, who).ok


ACTIONS: dict[str, Callable[[World, Identity], None]] = {
    "request_promotion": _request,
    "approve": _approve,
    "reject": _reject,
    "execute": _execute,
    "cancel_request": _cancel,
    "verify_ledger": _verify,
}


@pytest.fixture
def world(demo_copy: Workspace) -> World:
    return World(demo_copy, load_settings(demo_copy), Catalog(demo_copy.catalog_path))


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("role", ROLES)
def test_role_action_matrix(world: World, role: str, action: str) -> None:
    who = Identity(f"someone.{role}@example.org", frozenset({role}))
    if role in PERMISSIONS[action]:
        ACTIONS[action](world, who)
        return
    before = ledger.head(world.catalog)
    with pytest.raises(AccessDenied):
        ACTIONS[action](world, who)
    if action == "request_promotion":  # the other actions' setup wrote entries before the refused call
        assert ledger.head(world.catalog) == before


def test_a_refused_decision_leaves_the_request_as_it_was(world: World) -> None:
    rid = pending(world)
    viewer = Identity("someone.viewer@example.org", frozenset({"viewer"}))
    before = ledger.head(world.catalog)
    for call in (lambda: approve(Context(world.ws, world.settings, world.catalog, viewer), rid, "ok"),
                 lambda: reject(Context(world.ws, world.settings, world.catalog, viewer), rid, "no")):
        with pytest.raises(AccessDenied):
            call()
    assert get_request(world.catalog, rid).status == "pending" and not get_request(world.catalog, rid).decisions
    assert ledger.head(world.catalog) == before


def test_four_eyes_is_reached_for_a_role_that_may_approve(world: World) -> None:
    # the role allows approving; four eyes still refuses the requester and the version's creator
    both = Identity("both.hats@example.org", frozenset({"ml_engineer", "risk_officer"}))
    rid = pending(world, both)
    with pytest.raises(AccessDenied, match="requested this promotion"):
        approve(Context(world.ws, world.settings, world.catalog, both), rid, "ok", risk_acceptance=acceptance(world, rid))
    creator = Identity("data.scientist@demo.countersign.dev", frozenset({"risk_officer"}))
    with pytest.raises(AccessDenied, match="created version lab-dev:repair-cost:2"):
        approve(Context(world.ws, world.settings, world.catalog, creator), rid, "ok", risk_acceptance=acceptance(world, rid))
    assert get_request(world.catalog, rid).status == "pending"


@pytest.mark.parametrize("role", ROLES)
def test_checkpoint_matrix(demo_copy, role: str) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    who = Identity(f"someone.{role}@example.org", frozenset({role}))
    if role in PERMISSIONS["checkpoint"]:
        assert ledger.checkpoint(demo_copy, catalog, who).length > 0
    else:
        with pytest.raises(AccessDenied):
            ledger.checkpoint(demo_copy, catalog, who)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_nobody_signed_in_is_refused(world: World, action: str) -> None:
    with pytest.raises(AccessDenied, match="nobody is signed in"):
        ACTIONS[action](world, None)  # type: ignore[arg-type]
    requests = list_requests(world.catalog)
    if action in ("approve", "reject", "cancel_request"):  # the setup's request is left as it was
        assert requests["status"].iloc[0] == "pending" and requests["approvals"].iloc[0] == 0
