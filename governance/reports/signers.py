"""Who signs an exported report: the exporter with their own certificate, or the workspace's organisation seal.

The rule (``[signing]`` of ``countersign.toml``):

1. an exporter holding one of ``signer_roles`` whose key is in ``personal_keys`` signs with it;
2. anyone else who may export (an auditor, an admin, a signer without a key) gets the workspace's seal
   (``key``/``certificate``), and the signature's reason names them: "Exported by X; sealed by <organisation>";
3. with ``seal = false`` and no personal key, the export is refused with the names of the people who can sign.

Exporting is the ``export`` permission (risk officer, auditor, admin); signing personally is a separate grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import AccessDenied, ConfigError
from governance.config import Settings, Workspace
from governance.identity import Identity
from governance.reports.keys import SignerInfo, load_key_pair, load_signer, personal_key_paths, signer_info

PERSON, SEAL = "person", "seal"


@dataclass(frozen=True)
class ChosenSigner:
    """The key that signs one export, whose certificate it is and in which capacity (a person or the seal)."""

    signer: Any  # a pyHanko SimpleSigner
    info: SignerInfo
    kind: str  # PERSON | SEAL
    certificate_pem: bytes

    def reason(self, identity: Identity, subject: str) -> str:
        """The signature's reason: what is signed, who exported it and whose certificate signs it."""
        role = f" ({self.info.role})" if self.info.role else ""
        if self.kind == PERSON:
            return f"{subject}. Exported and signed by {identity.label}{role}"
        return f"{subject}. Exported by {identity.label}; sealed by {self.info.organisation or self.info.name}"


def signs_personally(settings: Settings, identity: Identity) -> bool:
    """Whether ``identity`` holds a role that signs with its own certificate."""
    return bool(identity.roles & set(settings.signing.signer_roles))


def who_can_sign(settings: Settings) -> list[str]:
    """The ``[roles]`` entries (people and groups) that hold a signer role, for error messages and the page."""
    roles = set(settings.signing.signer_roles)
    return sorted(who for who, granted in settings.roles.items() if roles & set(granted))


def _pem(signer: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509 import load_der_x509_certificate

    return load_der_x509_certificate(signer.signing_cert.dump()).public_bytes(serialization.Encoding.PEM)


def _chosen(signer: Any, kind: str) -> ChosenSigner:
    from cryptography.x509 import load_der_x509_certificate

    info = signer_info(load_der_x509_certificate(signer.signing_cert.dump()))
    return ChosenSigner(signer=signer, info=info, kind=kind, certificate_pem=_pem(signer))


def personal_signer(workspace: Workspace, settings: Settings, identity: Identity, *,
                    passphrase: bytes | None = None) -> ChosenSigner:
    """``identity``'s own key; a clear error when they hold no signer role or have no key in the workspace."""
    if not signs_personally(settings, identity):
        have = ", ".join(sorted(identity.roles)) or "no role"
        raise AccessDenied(
            f"{identity.email} ({have}) does not sign reports: [signing] signer_roles = "
            f"{list(settings.signing.signer_roles)}. People who can: {', '.join(who_can_sign(settings)) or 'none'}")
    key, cert = personal_key_paths(workspace, settings, identity.email)
    hint = (f"Each signer keeps their own key as {key.name} and certificate as {cert.name} in "
            f"{key.parent} ([signing] personal_keys; a .p12 bundle works too).")
    return _chosen(load_key_pair(key, cert, passphrase=passphrase, hint=hint), PERSON)


def choose_signer(workspace: Workspace, settings: Settings, identity: Identity, *,
                  passphrase: bytes | None = None) -> ChosenSigner:
    """The key that signs what ``identity`` exports: their own, else the organisation seal (see the module doc)."""
    if signs_personally(settings, identity):
        key, _cert = personal_key_paths(workspace, settings, identity.email)
        if key.exists() or not settings.signing.seal:
            return personal_signer(workspace, settings, identity, passphrase=passphrase)
    if not settings.signing.seal:
        have = ", ".join(sorted(identity.roles)) or "no role"
        raise AccessDenied(
            f"{identity.email} ({have}) may export but does not sign reports ([signing] signer_roles = "
            f"{list(settings.signing.signer_roles)}), and this workspace has no organisation seal ([signing] "
            f"seal = false). Reports can be signed by: {', '.join(who_can_sign(settings)) or 'nobody configured'}. "
            f"Ask one of them to export, or configure the seal in {workspace.config_path}.")
    try:
        return _chosen(load_signer(workspace, settings, passphrase=passphrase), SEAL)
    except ConfigError as exc:
        if not signs_personally(settings, identity):
            raise
        key, _cert = personal_key_paths(workspace, settings, identity.email)
        raise ConfigError(f"{identity.email} has no personal signing key ({key} not found) and the organisation "
                          f"seal is unavailable: {exc}") from None


@dataclass(frozen=True)
class SigningPlan:
    """What would sign an export by ``identity`` right now: their certificate, the seal, or nothing (and why)."""

    kind: str | None  # PERSON | SEAL | None when no signature can be made
    certificate_name: str | None
    problem: str | None = None


def signing_plan(workspace: Workspace, settings: Settings, identity: Identity) -> SigningPlan:
    """:func:`choose_signer` without signing: for a page to say in advance whose certificate will sign."""
    try:
        chosen = choose_signer(workspace, settings, identity)
    except (AccessDenied, ConfigError) as exc:
        return SigningPlan(None, None, str(exc))
    return SigningPlan(chosen.kind, chosen.info.name)
