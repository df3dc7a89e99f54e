"""Every role × every sign-off action, through governance/ directly (no UI): allowed, or AccessDenied.

Allowed calls aim at an unknown request or version, so they pass the role check and stop at NotFound without
writing to the shared demo workspace; the matrix's expectation comes from PERMISSIONS, the table users read.
"""

from __future__ import annotations

import pytest

from core.errors import AccessDenied, NotFound
from governance import ledger
from governance.catalog import Catalog
from governance.config import ROLES, load_settings
from governance.identity import PERMISSIONS, Identity
from governance.promotion import approve, cancel, create_request, execute, reject

ACTIONS = {
    "request_promotion": lambda ws, s, c, who: create_request(ws, s, c, who, "lab-dev:nope:1", "staging", "why"),
    "approve": lambda ws, s, c, who: approve(ws, s, c, who, "PR-none", "ok"),
    "reject": lambda ws, s, c, who: reject(ws, s, c, who, "PR-none", "no"),
    "execute": lambda ws, s, c, who: execute(ws, s, c, who, "PR-none"),
    "cancel_request": lambda ws, s, c, who: cancel(ws, s, c, who, "PR-none"),
    "verify_ledger": lambda ws, s, c, who: ledger.verify(ws, c, who),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("role", ROLES)
def test_role_action_matrix(demo_workspace, role: str, action: str) -> None:
    settings = load_settings(demo_workspace)
    catalog = Catalog(demo_workspace.catalog_path)
    who = Identity(f"someone.{role}@example.org", frozenset({role}))
    allowed = role in PERMISSIONS[action]
    call = ACTIONS[action]
    if allowed:
        try:
            call(demo_workspace, settings, catalog, who)
        except NotFound:
            pass
    else:
        with pytest.raises(AccessDenied):
            call(demo_workspace, settings, catalog, who)


@pytest.mark.parametrize("role", ROLES)
def test_checkpoint_matrix(demo_copy, role: str) -> None:
    catalog = Catalog(demo_copy.catalog_path)
    who = Identity(f"someone.{role}@example.org", frozenset({role}))
    if role in PERMISSIONS["checkpoint"]:
        assert ledger.checkpoint(demo_copy, catalog, who).length > 0
    else:
        with pytest.raises(AccessDenied):
            ledger.checkpoint(demo_copy, catalog, who)


def test_nobody_signed_in_is_refused(demo_workspace) -> None:
    settings = load_settings(demo_workspace)
    catalog = Catalog(demo_workspace.catalog_path)
    for call in ACTIONS.values():
        with pytest.raises(AccessDenied):
            call(demo_workspace, settings, catalog, None)
