"""Who is acting, and what each role may do. Every write in ``governance/`` calls :func:`require` itself."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

from core.errors import AccessDenied
from governance.config import ROLES, Settings

# action -> roles allowed to perform it. The pages hide what a user may not do; this table decides.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "sync": frozenset({"ml_engineer", "admin"}),
    "compute_evidence": frozenset({"data_scientist", "ml_engineer", "risk_officer", "admin"}),
    "request_promotion": frozenset({"ml_engineer"}),
    "cancel_request": frozenset({"ml_engineer", "admin"}),  # the requester's own request; an admin any request
    "approve": frozenset({"risk_officer"}),
    "reject": frozenset({"risk_officer"}),
    "accept_risk": frozenset({"risk_officer"}),
    "execute": frozenset({"ml_engineer", "risk_officer", "admin"}),
    "export": frozenset({"risk_officer", "auditor", "admin"}),
    "verify_ledger": frozenset(ROLES),
    "checkpoint": frozenset({"risk_officer", "auditor", "admin"}),
    "review_periodic": frozenset({"risk_officer"}),  # ongoing oversight: the periodic review of a deployed version
    "notify": frozenset({"risk_officer", "admin"}),  # send the due notifications (a scheduler runs it as admin)
}


@dataclass(frozen=True)
class Identity:
    """An authenticated person (or the local operator of the CLI) and their roles."""

    email: str
    roles: frozenset[str] = field(default_factory=frozenset)
    name: str | None = None
    source: str = "unknown"  # oidc | header | demo | cli

    def can(self, action: str) -> bool:
        """Whether this identity may perform ``action``."""
        return bool(self.roles & PERMISSIONS.get(action, frozenset()))

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


def require(identity: Identity | None, action: str) -> Identity:
    """Return ``identity`` if it may perform ``action``; raise :class:`AccessDenied` otherwise."""
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}")
    if identity is None:
        raise AccessDenied(f"{action}: nobody is signed in")
    if not identity.can(action):
        allowed = ", ".join(sorted(PERMISSIONS[action]))
        have = ", ".join(sorted(identity.roles)) or "no role"
        raise AccessDenied(f"{identity.email} ({have}) may not {action.replace('_', ' ')}: needs one of {allowed}")
    return identity


def identity_for(settings: Settings, email: str, *, name: str | None = None, groups: tuple[str, ...] = (),
                 source: str) -> Identity:
    """An identity whose roles come from ``[roles]`` of ``settings``."""
    return Identity(email=email, roles=settings.roles_for(email, groups), name=name, source=source)


def cli_identity(settings: Settings, actor: str | None) -> Identity:
    """The CLI's actor: ``--actor EMAIL`` with its configured roles, else the local operator as admin.

    Whoever runs the CLI owns the workspace files, so the local operator administers it; decisions that need
    another role (approving, requesting) must name an ``--actor`` that holds it.
    """
    if actor:
        return identity_for(settings, actor, source="cli")
    return Identity(email=f"local:{getpass.getuser()}", roles=frozenset({"admin"}), source="cli")
