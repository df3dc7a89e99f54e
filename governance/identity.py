"""Who is acting, and what each role may do. Every write in ``governance/`` calls :func:`require` itself."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field

from core.errors import AccessDenied, InputError
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
    # the rest of the lifecycle (issue 38): fallback plans, incidents, model cards, retention
    "propose_fallback": frozenset({"ml_engineer", "risk_officer"}),
    "approve_fallback": frozenset({"risk_officer"}),
    "rehearse_fallback": frozenset({"ml_engineer", "risk_officer", "admin"}),
    "execute_fallback": frozenset({"risk_officer"}),  # the emergency path: one risk officer, executed at once
    "review_fallback": frozenset({"risk_officer"}),  # the review after the fact, by another risk officer
    "record_incident": frozenset({"data_scientist", "ml_engineer", "risk_officer", "admin"}),
    "manage_incident": frozenset({"ml_engineer", "risk_officer", "admin"}),  # actions and regulator reports
    "close_incident": frozenset({"risk_officer"}),
    "edit_card": frozenset({"data_scientist", "ml_engineer", "risk_officer"}),
    "write_card": frozenset({"ml_engineer", "risk_officer", "admin"}),  # write a card back to its registry
    "purge": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Identity:
    """An authenticated person (or the operating-system user running the CLI) and their roles."""

    email: str
    roles: frozenset[str] = field(default_factory=frozenset)
    name: str | None = None
    source: str = "unknown"  # oidc | header | demo | cli | os

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
        hint = ""
        if identity.source == "os":
            key = identity.name or identity.email
            hint = (f"; the command line acts as the operating-system user: grant it a role with "
                    f"'\"{key}\" = [\"{sorted(PERMISSIONS[action])[0]}\"]' under [roles] in countersign.toml")
        raise AccessDenied(f"{identity.email} ({have}) may not {action.replace('_', ' ')}: needs one of "
                           f"{allowed}{hint}")
    return identity


def identity_for(settings: Settings, email: str, *, name: str | None = None, groups: tuple[str, ...] = (),
                 source: str) -> Identity:
    """An identity whose roles come from ``[roles]`` of ``settings``.

    ``"os:<user>"`` keys belong to operating-system users (:func:`os_identity`): a sign-in or header that claims
    such a name gets none of their roles.
    """
    roles = frozenset() if email.lower().startswith("os:") else settings.roles_for(email, groups)
    return Identity(email=email, roles=roles, name=name, source=source)


def os_user() -> str:
    """The operating-system account running this process (its effective uid, not the spoofable $USER)."""
    return pwd.getpwuid(os.geteuid()).pw_name


def os_identity(settings: Settings, user: str) -> Identity:
    """The identity of operating-system user ``user``: ``"os:<user>"`` in ``[roles]``, nothing else.

    When ``[os_users]`` names the person's e-mail (``alice = "alice@bank.example"``) the CLI acts under that e-mail,
    with its roles too, so four eyes sees one person whether they use the portal or the command line.
    """
    key = f"os:{user}"
    email = settings.os_users.get(user)
    roles = settings.roles_for(key) | (settings.roles_for(email) if email else frozenset())
    return Identity(email=email or key, roles=roles, name=key, source="os")


def cli_identity(settings: Settings, actor: str | None, *, user: str | None = None) -> Identity:
    """The CLI's actor: the operating-system user with the roles ``[roles]`` grants to ``"os:<user>"``.

    ``--actor EMAIL`` (or ``COUNTERSIGN_ACTOR``) picks a persona on the demo workspace only; anywhere else it would
    let anyone act as anyone, so it is refused.
    """
    user = user or os_user()
    if actor:
        if not settings.workspace.demo:
            raise InputError(
                f"--actor and COUNTERSIGN_ACTOR work only on the demo workspace; here the command line acts as the "
                f"operating-system user '{user}', with the roles [roles] grants to \"os:{user}\"")
        return identity_for(settings, actor, source="cli")
    return os_identity(settings, user)
