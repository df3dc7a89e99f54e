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


def verify_pdf(data: bytes, *, trust: tuple[Path, ...] = (), path: str | None = None) -> VerifyResult:
    """Verify every signature in ``data``; trusted only when ``trust`` names the anchor certificates."""
    from asn1crypto import x509 as ax509
    from cryptography import x509 as cx509
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import ValidationContext, validate_pdf_signature

    anchors = [ax509.Certificate.load(load_certificate(p).public_bytes(_der())) for p in trust]
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfReadError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise SignatureInvalid(f"{path or 'PDF'}: cannot read the file's signatures ({exc}): it was damaged or altered") from None
    if not embedded:
        raise SignatureInvalid(f"{path or 'PDF'}: the file carries no signature")
    checks: list[SignatureCheck] = []
    for sig in embedded:
        cert = sig.signer_cert
        roots = anchors or [cert]
        try:
            status = outside_event_loop(
                lambda sig=sig, roots=roots: validate_pdf_signature(
                    sig, ValidationContext(trust_roots=roots, allow_fetching=False)
                )
            )
        except Exception as exc:
            raise SignatureInvalid(f"{path or 'PDF'}: signature {sig.field_name!r} could not be validated ({exc})") from None
        who = signer_info(cx509.load_der_x509_certificate(cert.dump()))
        sig_dict = sig.sig_object
        mod = status.modification_level.name if status.modification_level is not None else None
        coverage = status.coverage.name if status.coverage is not None else "UNCLEAR"
        if not status.intact:
            verdict = "FAILED: the signed content was altered after signing"
        elif not status.valid:
            verdict = "FAILED: the cryptographic signature does not match the signer's certificate"
        elif not status.trusted:
            # pyHanko says why (no path to an anchor, expired, revoked ...): pass its indication on
            why = getattr(status.trust_problem_indic, "name", None)
            verdict = ("FAILED: the signer's certificate does not chain to the trusted certificate given"
                       if anchors else "FAILED: the signer's certificate is not valid") + (f" ({why})" if why else "")
        elif not status.bottom_line:
            verdict = f"FAILED: the document was modified after signing ({mod or 'unknown change'})"
        elif anchors:
            verdict = "OK: intact, valid and signed by a trusted certificate"
        else:
            verdict = "OK: intact and valid (signer not checked against a trust anchor; pass --trust CERT to check)"
        checks.append(
            SignatureCheck(
                field=sig.field_name,
                signer=who.name,
                signer_role=who.role,
                signer_organisation=who.organisation,
                certificate_sha256=who.fingerprint_sha256,
                signed_at=status.signer_reported_dt,
                name=_text(sig_dict.get("/Name")),
                reason=_text(sig_dict.get("/Reason")),
                location=_text(sig_dict.get("/Location")),
                coverage=coverage,
                intact=bool(status.intact),
                valid=bool(status.valid),
                trusted=bool(status.trusted) and bool(anchors),
                trust_checked=bool(anchors),
                bottom_line=bool(status.bottom_line),
                modification=mod,
                verdict=verdict,
                kind=who.kind,
                certifies=sig.docmdp_level.name if sig.docmdp_level is not None else None,
            )
        )
    ok = all(c.bottom_line for c in checks) and checks[-1].coverage == "ENTIRE_FILE"
    if ok:
        verdict = checks[-1].verdict
    elif all(c.bottom_line for c in checks):
        verdict = "FAILED: content was appended after the last signature"
    else:
        verdict = next(c.verdict for c in checks if not c.bottom_line)
    return VerifyResult(path=path, signatures=tuple(checks), ok=ok, verdict=verdict)


def verify_file(path: Path, *, trust: tuple[Path, ...] = ()) -> VerifyResult:
    """Verify the PDF at ``path``."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    if not data.startswith(b"%PDF"):
        raise InputError(f"{path}: not a PDF file")
    return verify_pdf(data, trust=trust, path=str(path))


def _der():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER
