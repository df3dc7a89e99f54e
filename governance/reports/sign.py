"""PAdES signatures on report PDFs (pyHanko) and their verification.

Verification decides on pyHanko's ``bottom_line`` (intact AND valid AND trusted AND DocMDP respected), never on
``valid`` alone: after a one-byte edit inside the signed range ``valid`` can still read True while ``intact`` is
False. Without a trust anchor the signer's own certificate is used as the only root, so ``bottom_line`` still
checks integrity and the cryptographic signature; the result then says the signer was not checked against an
anchor the verifier chose.

A report's first signature *certifies* it and allows later signatures only (DocMDP ``FILL_FORMS``: the report has no
other form fields), so later approvers can countersign it with approval signatures while any other change still
fails verification.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from core.errors import InputError, SignatureInvalid
from governance.reports.keys import load_certificate, signer_info

SIGNATURE_FIELD = "CountersignSignature"
COUNTERSIGNATURE_FIELD = "Countersignature"
T = TypeVar("T")


def outside_event_loop(fn: Callable[[], T]) -> T:
    """Run ``fn`` here, or in a worker thread when this thread already runs an asyncio loop.

    pyHanko's synchronous API calls ``asyncio.run``, which refuses to start inside a running loop (a notebook, an
    async server, a test session driving a browser); a fresh thread has no loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cs-pdf-sign") as pool:
        return pool.submit(fn).result()


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of verifying one embedded signature."""

    field: str
    signer: str
    signer_role: str | None
    signer_organisation: str | None
    certificate_sha256: str
    signed_at: dt.datetime | None
    name: str | None
    reason: str | None
    location: str | None
    coverage: str  # ENTIRE_FILE | ENTIRE_REVISION | CONTIGUOUS_BLOCK_FROM_START | UNCLEAR
    intact: bool
    valid: bool
    trusted: bool
    trust_checked: bool
    bottom_line: bool
    modification: str | None
    verdict: str
    kind: str = "person"  # person | seal, from the certificate's subject
    certifies: str | None = None  # the DocMDP permission of a certification signature (NO_CHANGES, FILL_FORMS, ...)

    @property
    def ok(self) -> bool:
        return self.bottom_line


@dataclass(frozen=True)
class VerifyResult:
    """Every signature of a PDF and whether the file as a whole verifies."""

    path: str | None
    signatures: tuple[SignatureCheck, ...]
    ok: bool
    verdict: str


def sign_pdf(
    pdf: bytes,
    signer,
    *,
    name: str,
    reason: str,
    location: str | None = None,
    contact: str | None = None,
    certify: bool = True,
    field_name: str = SIGNATURE_FIELD,
) -> bytes:
    """A PAdES B-B signed copy of ``pdf`` (the signer's name and reason go into the signature dictionary).

    ``certify`` makes it the certification signature that allows later signatures only; otherwise it is an
    approval signature added after the ones ``pdf`` carries (a countersignature).
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        name=name,
        reason=reason,
        location=location,
        contact_info=contact,
        certify=certify,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    return outside_event_loop(lambda: signers.sign_pdf(writer, meta, signer=signer).getvalue())


def _text(value) -> str | None:
    return None if value is None else str(value)


def _one_line(exc: BaseException) -> str:
    """An exception of a PDF or ASN.1 parser as one short line (its message, else its type)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def verify_pdf(data: bytes, *, trust: tuple[Path, ...] = (), path: str | None = None) -> VerifyResult:
    """Verify every signature in ``data``; trusted only when ``trust`` names the anchor certificates.

    Any bytes give a verdict: a file no parser can read, a signature whose certificate or value was altered, is
    :class:`SignatureInvalid` with the reason (the CLI's FAILED, exit 1), never another exception.
    """
    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.reader import PdfFileReader

    anchors = [ax509.Certificate.load(load_certificate(p).public_bytes(_der())) for p in trust]
    where = path or "PDF"
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # hostile bytes can trip any parser error: every one of them means "not verifiable"
        raise SignatureInvalid(f"{where}: cannot read the file's signatures ({_one_line(exc)}): "
                               "it was damaged or altered") from None
    if not embedded:
        raise SignatureInvalid(f"{where}: the file carries no signature")
    checks: list[SignatureCheck] = []
    for sig in embedded:
        try:
            checks.append(_check_signature(sig, anchors))
        except Exception as exc:  # the certificate or CMS structure inside the signature does not parse or match
            raise SignatureInvalid(f"{where}: signature {_field_name(sig)!r} cannot be validated "
                                   f"({_one_line(exc)}): it was damaged or altered") from None
    ok = all(c.bottom_line for c in checks) and checks[-1].coverage == "ENTIRE_FILE"
    if ok:
        verdict = checks[-1].verdict
    elif all(c.bottom_line for c in checks):
        verdict = "FAILED: content was appended after the last signature"
    else:
        verdict = next(c.verdict for c in checks if not c.bottom_line)
    return VerifyResult(path=path, signatures=tuple(checks), ok=ok, verdict=verdict)


def _field_name(sig) -> str:
    try:
        return str(sig.field_name)
    except Exception:  # the field dictionary itself is damaged
        return "?"


def _check_signature(sig, anchors: list) -> SignatureCheck:
    """Validate one embedded signature (pyHanko) and describe it; raises whatever a damaged signature raises."""
    from cryptography import x509 as cx509
    from pyhanko.sign.validation import ValidationContext, validate_pdf_signature

    cert = sig.signer_cert
    roots = anchors or [cert]
    status = outside_event_loop(
        lambda: validate_pdf_signature(sig, ValidationContext(trust_roots=roots, allow_fetching=False))
    )
    who = signer_info(cx509.load_der_x509_certificate(cert.dump()))
    sig_dict = sig.sig_object
    mod = status.modification_level.name if status.modification_level is not None else None
    return SignatureCheck(
        field=sig.field_name,
        signer=who.name,
        signer_role=who.role,
        signer_organisation=who.organisation,
        certificate_sha256=who.fingerprint_sha256,
        signed_at=status.signer_reported_dt,
        name=_text(sig_dict.get("/Name")),
        reason=_text(sig_dict.get("/Reason")),
        location=_text(sig_dict.get("/Location")),
        coverage=status.coverage.name if status.coverage is not None else "UNCLEAR",
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted) and bool(anchors),
        trust_checked=bool(anchors),
        bottom_line=bool(status.bottom_line),
        modification=mod,
        verdict=_signature_verdict(status, bool(anchors), mod),
        kind=who.kind,
        certifies=sig.docmdp_level.name if sig.docmdp_level is not None else None,
    )


def _signature_verdict(status, anchored: bool, mod: str | None) -> str:
    """One signature's verdict from pyHanko's status, deciding on ``bottom_line`` (see the module docstring)."""
    if not status.intact:
        return "FAILED: the signed content was altered after signing"
    if not status.valid:
        return "FAILED: the cryptographic signature does not match the signer's certificate"
    if not status.trusted:
        # pyHanko says why (no path to an anchor, expired, revoked ...): pass its indication on
        why = getattr(status.trust_problem_indic, "name", None)
        return ("FAILED: the signer's certificate does not chain to the trusted certificate given"
                if anchored else "FAILED: the signer's certificate is not valid") + (f" ({why})" if why else "")
    if not status.bottom_line:
        return f"FAILED: the document was modified after signing ({mod or 'unknown change'})"
    if anchored:
        return "OK: intact, valid and signed by a trusted certificate"
    return "OK: intact and valid (signer not checked against a trust anchor; pass --trust CERT to check)"


def verify_file(path: Path, *, trust: tuple[Path, ...] = ()) -> VerifyResult:
    """Verify the PDF at ``path``: :class:`InputError` when it cannot be read or is no PDF at all."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a PDF file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data.startswith(b"%PDF"):
        raise InputError(f"{path}: not a PDF file")
    return verify_pdf(data, trust=trust, path=str(path))


def _der():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER
