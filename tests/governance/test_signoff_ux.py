"""The service functions behind the approve UX: the confirmation text, approval progress, who may still act,
the register of risk acceptances (states as of a given moment) and the count of requests awaiting a person."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import AccessDenied, ConflictError, InputError
from governance.context import Context
from governance.promotion import allowed_actions, approve, get_request
from governance.signoff import (
    acceptance_register,
    approval_preview,
    approval_progress,
    awaiting_approval,
    check_approval,
    ordinal,
    review_request,
)
from tests.governance.test_promotion import World

HIGH = "lab-staging:credit-approval:2"  # high tier: two approvers


@pytest.fixture
def world(demo_copy) -> World:
    return World(demo_copy)


def test_ordinals() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]


def test_preview_progress_and_actions_through_two_approvals(world: World) -> None:
    rid = world.request(HIGH)
    officer, validator = world.who("risk.officer"), world.who("validator")
    acceptance = world.accept_all(rid)
    first = approval_preview(review_request(Context(world.ws, world.settings, world.catalog, officer), rid), officer, acceptance)
    assert (first.approval_number, first.approvals_required, first.completes, first.executes) == (1, 2, False, False)
    assert first.text.startswith("This is the 1st of 2 approvals: approving records your approval only.")
    assert approval_progress(get_request(world.catalog, rid)) == "0 of 2 approvals, waiting for a risk officer"

    approve(Context(world.ws, world.settings, world.catalog, officer), rid, "first", risk_acceptance=acceptance)
    request = get_request(world.catalog, rid)
    assert approval_progress(request) == "1 of 2 approvals, waiting for another risk officer"
    version = world.catalog.version(HIGH)
    assert allowed_actions(officer, request, version) == frozenset()  # nothing more for the first approver
    assert {"approve", "reject"} <= allowed_actions(validator, request, version)

    second = approval_preview(review_request(Context(world.ws, world.settings, world.catalog, validator), rid), validator)
    assert (second.approval_number, second.completes, second.executes) == (2, True, True)
    assert second.text.startswith(f"This is the 2nd of 2 approvals: approving will promote {HIGH} to prod "
                                  f"(register {HIGH} in account lab-prod (prod) and mark it Approved in the source "
                                  "registry (lab-staging)")


def test_check_approval_raises_what_approve_would_and_writes_nothing(world: World) -> None:
    rid = world.request(HIGH)
    officer = world.who("risk.officer")
    before = world.catalog.query_df("SELECT count(*) AS n FROM ledger")["n"][0]
    with pytest.raises(InputError, match="comment is required"):
        check_approval(Context(world.ws, world.settings, world.catalog, officer), rid, "  ")
    if world.accept_all(rid) is not None:
        with pytest.raises(ConflictError, match="gates block approval"):
            check_approval(Context(world.ws, world.settings, world.catalog, officer), rid, "fine")
    check_approval(Context(world.ws, world.settings, world.catalog, officer), rid, "fine",
                   risk_acceptance=world.accept_all(rid))
    with pytest.raises(AccessDenied):
        check_approval(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer")), rid, "mine")
    assert world.catalog.query_df("SELECT count(*) AS n FROM ledger")["n"][0] == before
    assert get_request(world.catalog, rid).approvers == ()


def test_register_states_follow_the_clock(world: World) -> None:
    rid = world.request(HIGH)
    acceptance = world.accept_all(rid, days=40)
    assert acceptance is not None
    approve(Context(world.ws, world.settings, world.catalog, world.who("risk.officer")), rid, "first",
            risk_acceptance=acceptance)
    expires = acceptance.expires_at.replace(microsecond=0)

    def state(at: dt.datetime) -> str:
        return next(a for a in acceptance_register(world.catalog, now=at) if a.request_id == rid).state

    assert state(expires - dt.timedelta(days=35)) == "in force"
    assert state(expires - dt.timedelta(days=29)) == "expiring soon"
    assert state(expires + dt.timedelta(seconds=1)) == "expired"
    entry = next(a for a in acceptance_register(world.catalog) if a.request_id == rid)
    assert (entry.accepted_by, entry.version_id, set(entry.gates)) == \
        ("risk.officer@demo.countersign.dev", HIGH, set(acceptance.gates))
    assert entry.justification == acceptance.justification


def test_awaiting_applies_four_eyes(world: World) -> None:
    rid = world.request(HIGH)
    open_demo = world.request()
    officer = world.who("risk.officer")
    assert {r.request_id for r in awaiting_approval(Context(world.ws, world.settings, world.catalog, officer))} == {rid, open_demo}
    approve(Context(world.ws, world.settings, world.catalog, officer), rid, "first", risk_acceptance=world.accept_all(rid))
    assert [r.request_id for r in awaiting_approval(Context(world.ws, world.settings, world.catalog, officer))] == [open_demo]
    assert {r.request_id for r in awaiting_approval(Context(world.ws, world.settings, world.catalog, world.who("validator")))} == {rid, open_demo}
    assert awaiting_approval(Context(world.ws, world.settings, world.catalog, world.who("ml.engineer"))) == ()  # the requester: no approval right
