"""Signing keys and certificates: each signer's own, and the workspace's organisation seal.

``[signing]`` in ``countersign.toml`` names the seal's files (relative to the workspace): a PEM key and a PEM
certificate, or one PKCS#12 bundle (``.p12``/``.pfx``) given as ``key`` with ``certificate`` pointing at the same
file. A person who signs with their own key keeps it in ``personal_keys`` as ``<email>.key`` + ``<email>.pem`` (or
``<email>.p12``). A certificate's subject carries the signer's name (CN) and role (title); a seal's names the
organisation (O) and says it is a seal (CN ``<organisation> seal``). Both end up in the signature.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.errors import ConfigError, CountersignError, InputError
from governance.config import Settings, Workspace, write_private

SEAL_ROLE = "Organisation seal"
_PKCS12 = (".p12", ".pfx")


@dataclass(frozen=True)
class KeyPaths:
    """Where a workspace's signing key and certificate live, and whether they were just created."""

    key: Path
    certificate: Path
    created: bool


@dataclass(frozen=True)
class SignerInfo:
    """Who a certificate names: common name, role (X.509 title), organisation, e-mail."""

    name: str
    role: str | None
    organisation: str | None
    email: str | None
    fingerprint_sha256: str
    seal: bool = False  # the certificate is an organisation's seal, not a person's

    @property
    def kind(self) -> str:
        return "seal" if self.seal else "person"


def key_paths(workspace: Workspace, settings: Settings) -> tuple[Path, Path]:
    """The seal's key and certificate paths of ``[signing]``, resolved against the workspace root."""
    return (workspace.root / settings.signing.key, workspace.root / settings.signing.certificate)


def personal_key_paths(workspace: Workspace, settings: Settings, email: str) -> tuple[Path, Path]:
    """``<personal_keys>/<email>.key`` and ``.pem``, or ``<email>.p12`` twice when that bundle exists."""
    folder = workspace.root / settings.signing.personal_keys
    name = email.strip().lower()
    if "/" in name or "\\" in name or name.startswith(".") or not name:
        raise InputError(f"{email!r} cannot name a key file")
    bundle = folder / f"{name}.p12"
    if bundle.exists():
        return bundle, bundle
    return folder / f"{name}.key", folder / f"{name}.pem"


def generate_self_signed(
    key_path: Path,
    cert_path: Path,
    *,
    name: str,
    role: str | None = None,
    organisation: str | None = None,
    email: str | None = None,
    valid_days: int = 3650,
) -> None:
    """Write a new P-256 key and a self-signed certificate naming ``name`` and ``role``."""
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if role:
        attrs.append(x509.NameAttribute(NameOID.TITLE, role))
    if organisation:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    subject = x509.Name(attrs)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # a day of slack so a signature made right away validates on a machine whose clock runs a bit behind
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_cert_sign=True, crl_sign=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # owner-only from the first byte (0600 files, 0700 new folders), never world-readable for a moment
    write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def seal_name(settings: Settings) -> str:
    """The common name of the workspace's seal: ``<workspace name> seal``."""
    return settings.signing.signer_name or f"{settings.workspace.name} seal"


def ensure_demo_keys(workspace: Workspace, settings: Settings,
                     people: Mapping[str, tuple[str, str]] | None = None) -> KeyPaths:
    """Create the demo's organisation seal and a personal key per signer unless they exist (idempotent).

    ``people`` maps an e-mail to (name, role title) for each person who signs with their own key. Returns the
    seal's paths; ``created`` is true when anything was written.
    """
    key_path, cert_path = key_paths(workspace, settings)
    created = False
    if not (key_path.exists() and cert_path.exists()):
        generate_self_signed(key_path, cert_path, name=seal_name(settings), role=SEAL_ROLE,
                             organisation=settings.workspace.name)
        created = True
    for email, (name, role) in sorted((people or {}).items()):
        pkey, pcert = personal_key_paths(workspace, settings, email)
        if not (pkey.exists() and pcert.exists()):
            generate_self_signed(pkey, pcert, name=name, role=role, organisation=settings.workspace.name,
                                 email=email)
            created = True
    return KeyPaths(key_path, cert_path, created=created)


def load_certificate(path: Path) -> x509.Certificate:
    """A PEM or DER certificate from ``path``; a clear error when it is neither."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: certificate file not found") from None
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise InputError(f"{path}: not a PEM or DER X.509 certificate ({exc})") from None


def signer_info(cert: x509.Certificate) -> SignerInfo:
    """The name, role, organisation and e-mail a certificate's subject states."""

    def first(oid: x509.ObjectIdentifier) -> str | None:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    name = first(NameOID.COMMON_NAME) or cert.subject.rfc4514_string()
    person = first(NameOID.GIVEN_NAME) or first(NameOID.SURNAME) or first(NameOID.EMAIL_ADDRESS)
    # A seal says so: its common name ends in "seal", or (eIDAS style) it carries an organisation identifier and
    # no personal name or e-mail.
    seal = name.strip().lower().endswith(" seal") or (first(NameOID.ORGANIZATION_IDENTIFIER) is not None
                                                      and person is None)
    return SignerInfo(
        name=name,
        role=first(NameOID.TITLE),
        organisation=first(NameOID.ORGANIZATION_NAME),
        email=first(NameOID.EMAIL_ADDRESS),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        seal=seal,
    )


def certificate_holder(workspace: Workspace, settings: Settings) -> str | None:
    """Whom the workspace's signing certificate names (None while there is no readable certificate)."""
    _, cert_path = key_paths(workspace, settings)
    try:
        return signer_info(load_certificate(cert_path)).name
    except CountersignError:
        return None


def load_signer(workspace: Workspace, settings: Settings, *, passphrase: bytes | None = None):
    """A pyHanko signer from the workspace's ``[signing]`` seal files (PEM pair or PKCS#12)."""
    key_path, cert_path = key_paths(workspace, settings)
    hint = (
        f"Set [signing] key and certificate in {workspace.config_path} (see docs/reports.md), "
        f"or run 'countersign demo' for a demo workspace with a self-signed pair."
    )
    return load_key_pair(key_path, cert_path, passphrase=passphrase, hint=hint)


def load_key_pair(key_path: Path, cert_path: Path, *, passphrase: bytes | None, hint: str):
    """A pyHanko signer from a PEM key and certificate, or from one PKCS#12 bundle given as both."""
    from pyhanko.sign import signers

    if not key_path.exists():
        raise ConfigError(f"{key_path}: signing key not found. {hint}")
    if key_path.suffix.lower() in _PKCS12:
        signer = signers.SimpleSigner.load_pkcs12(str(key_path), passphrase=passphrase)
    else:
        if not cert_path.exists():
            raise ConfigError(f"{cert_path}: signing certificate not found. {hint}")
        signer = _load_pem_signer(key_path, cert_path, passphrase)
    if signer is None:
        # pyHanko logs the reason and returns None for a wrong passphrase or a malformed file
        raise ConfigError(
            f"{key_path}: could not load the signing key and certificate (wrong passphrase, or not a matching "
            f"PEM key/certificate pair). Set COUNTERSIGN_SIGNING_PASSPHRASE for an encrypted key."
        )
    return signer


def _load_pem_signer(key_path: Path, cert_path: Path, passphrase: bytes | None):
    """A signer from a PEM key and a PEM file holding the signing certificate, optionally followed by its CA chain."""
    from pyhanko.keys import load_certs_from_pemder, load_private_key_from_pemder
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    try:
        key = load_private_key_from_pemder(str(key_path), passphrase=passphrase)
        certs = list(load_certs_from_pemder([str(cert_path)]))
    except (ValueError, TypeError, OSError) as exc:
        raise ConfigError(
            f"{key_path} / {cert_path}: could not load the signing key and certificate ({exc}). A wrong or missing "
            f"passphrase? Set COUNTERSIGN_SIGNING_PASSPHRASE for an encrypted key."
        ) from None
    if not certs:
        raise ConfigError(f"{cert_path}: no certificate in the file")
    public = serialization.load_der_private_key(key.dump(), password=None).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if public != certs[0].public_key.dump():
        raise ConfigError(f"{key_path}: this key does not belong to the first certificate in {cert_path}")
    # the first certificate signs; the ones after it (issuing CAs) are embedded so verifiers can build the path
    return signers.SimpleSigner(signing_cert=certs[0], signing_key=key,
                                cert_registry=SimpleCertificateStore.from_certs(certs))

