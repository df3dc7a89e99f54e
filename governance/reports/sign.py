"""PAdES signatures on report PDFs (pyHanko) and their verification.

Verification decides on pyHanko's ``bottom_line`` (intact AND valid AND trusted AND DocMDP respected), never on
``valid`` alone: after a one-byte edit inside the signed range ``valid`` can still read True while ``intact`` is
False. Without a trust anchor the signer's own certificate is used as the only root, so ``bottom_line`` still
checks integrity and the cryptographic signature; the result then says the signer was not checked against an
anchor the verifier chose.

A report's first signature *certifies* it and allows later signatures only (DocMDP ``FILL_FORMS``: the report has no
other form fields), so later approvers can countersign it with approval signatures while any other change still
fails verification.

Signatures that outlive their certificates: with ``[signing] timestamp_url`` every signature carries an RFC 3161
signature timestamp, and the PDF gets the validation data (certificates, CRLs/OCSP responses) in its DSS plus a
document timestamp over all of it (PAdES B-LTA). :func:`verify_pdf` then checks a signature twice: as of the
verification time, and by ETSI EN 319 102-1 long-term validation, which proves the signature existed while its
certificate was valid (the signature timestamp) and that the validation data has not changed since (the document
timestamp). A signer's certificate that has expired since is then "valid at signing time", not a failure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from core.errors import ConnectorError, InputError, SignatureInvalid
from governance.reports.keys import load_certificate, signer_info
from governance.reports.longterm import (
    LongTerm,
    TimestampInfo,
    document_certificates,
    long_term_check,
    lta_metadata,
    timestamp_info,
)

# pyHanko logs every path it cannot build with a traceback, which Python's last-resort handler prints on stderr
# when the application configured no logging; the verdicts say what failed in one line
for _name in ("pyhanko", "pyhanko_certvalidator"):
    logging.getLogger(_name).addHandler(logging.NullHandler())

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
    timestamp: TimestampInfo | None = None  # the RFC 3161 signature timestamp, when the signature carries one
    long_term: LongTerm | None = None  # AdES-LTA validation, when the PDF carries document timestamps

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
    document_timestamps: tuple[TimestampInfo, ...] = ()  # PAdES document timestamps, oldest first
    checked_at: dt.datetime | None = None  # the verification time (now, unless the verifier chose another)

    @property
    def ltv(self) -> str:
        """The long-term validation status of the file in one phrase."""
        if not self.document_timestamps:
            stamped = any(s.timestamp is not None for s in self.signatures)
            return "timestamped, no long-term validation data (PAdES B-T)" if stamped else "none (PAdES B-B)"
        if all(s.long_term is not None and s.long_term.ok for s in self.signatures):
            return (f"PAdES B-LTA: validation data embedded and sealed by {len(self.document_timestamps)} "
                    f"document timestamp(s); every signature proven valid at signing time")
        return "PAdES B-LTA data present, but long-term validation failed"


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
    timestamp_url: str | None = None,
    fetch_validation_data: bool = True,
    timestamp_trust: tuple[Path, ...] = (),
) -> bytes:
    """A PAdES signed copy of ``pdf``: B-B, or B-LTA when ``timestamp_url`` names an RFC 3161 service.

    ``certify`` makes it the certification signature that allows later signatures only; otherwise it is an
    approval signature added after the ones ``pdf`` carries (a countersignature). With a time-stamping service the
    signature is refused (:class:`ConnectorError`) rather than made without its timestamp or validation data.
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
        **(lta_metadata(signer, fetch_validation_data, timestamp_trust) if timestamp_url else {}),
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    if not timestamp_url:
        return outside_event_loop(lambda: signers.sign_pdf(writer, meta, signer=signer).getvalue())
    from pyhanko.sign.timestamps import HTTPTimeStamper

    stamper = HTTPTimeStamper(timestamp_url, timeout=10)
    try:
        return outside_event_loop(
            lambda: signers.sign_pdf(writer, meta, signer=signer, timestamper=stamper).getvalue())
    except Exception as exc:  # the TSA, a CRL/OCSP responder or the path to a trust anchor failed: nothing signed
        raise ConnectorError(
            f"cannot make a long-term signature with the time-stamping service {timestamp_url} "
            f"({_one_line(exc)}): nothing was signed; check [signing] timestamp_url and that the certificates' "
            "CRL/OCSP addresses answer") from None


def _text(value) -> str | None:
    return None if value is None else str(value)


def _one_line(exc: BaseException) -> str:
    """An exception of a PDF or ASN.1 parser as one short line (its message, else its type)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def verify_pdf(data: bytes, *, trust: tuple[Path, ...] = (), path: str | None = None,
               at: dt.datetime | None = None) -> VerifyResult:
    """Verify every signature in ``data`` as of ``at`` (default now); trusted only when ``trust`` names anchors.

    Any bytes give a verdict: a file no parser can read, a signature whose certificate or value was altered, is
    :class:`SignatureInvalid` with the reason (the CLI's FAILED, exit 1), never another exception.
    """
    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.reader import PdfFileReader

    anchors = [ax509.Certificate.load(load_certificate(p).public_bytes(_der())) for p in trust]
    when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    where = path or "PDF"
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        regular = list(reader.embedded_regular_signatures)
        stamps = list(reader.embedded_timestamp_signatures)
        every = list(reader.embedded_signatures)
    except Exception as exc:  # hostile bytes can trip any parser error: every one of them means "not verifiable"
        raise SignatureInvalid(f"{where}: cannot read the file's signatures ({_one_line(exc)}): "
                               "it was damaged or altered") from None
    if not regular:
        raise SignatureInvalid(f"{where}: the file carries no signature")
    stored = document_certificates(reader) if stamps else []
    checks: list[SignatureCheck] = []
    doc_stamps: list[TimestampInfo] = []
    try:
        for sig in every:
            if sig in stamps:
                doc_stamps.append(_check_document_timestamp(sig, anchors, stored, when, where))
            else:
                checks.append(_check_signature(sig, anchors, stored, when, long_term=bool(stamps)))
    except SignatureInvalid:
        raise
    except Exception as exc:  # the certificate or CMS structure inside the signature does not parse or match
        raise SignatureInvalid(f"{where}: signature {_field_name(sig)!r} cannot be validated "
                               f"({_one_line(exc)}): it was damaged or altered") from None
    # after the last signature only validation data may follow (pyHanko writes the DSS after a document timestamp);
    # its diff analysis of the last signature says whether anything else was added
    last_covers_all = _coverage(every[-1]) == "ENTIRE_FILE" or checks[-1].modification == "LTA_UPDATES"
    ok = all(c.bottom_line for c in checks) and last_covers_all
    if ok:
        verdict = checks[-1].verdict
    elif all(c.bottom_line for c in checks):
        verdict = "FAILED: content was appended after the last signature"
    else:
        verdict = next(c.verdict for c in checks if not c.bottom_line)
    return VerifyResult(path=path, signatures=tuple(checks), ok=ok, verdict=verdict,
                        document_timestamps=tuple(doc_stamps), checked_at=when)


def _coverage(sig) -> str:
    """How much of the file ``sig`` covers (pyHanko's SignatureCoverageLevel name)."""
    level = sig.evaluate_signature_coverage()
    return level.name if level is not None else "UNCLEAR"


def _field_name(sig) -> str:
    try:
        return str(sig.field_name)
    except Exception:  # the field dictionary itself is damaged
        return "?"


def _roots(sig, anchors: list, stored: list) -> list:
    """The trust roots for one signature: the verifier's anchors, else what the file itself offers.

    Without anchors the signer's own certificate is the only root for the signer, plus the self-signed
    certificates the file embeds for its timestamps, so integrity and the timestamps are still checked.
    """
    if anchors:
        return anchors
    return [sig.signer_cert, *(c for c in stored if c.self_signed != "no")]


def _check_document_timestamp(sig, anchors: list, stored: list, when: dt.datetime, where: str) -> TimestampInfo:
    """Check a PAdES document timestamp's integrity and TSA signature; a broken one fails the whole file."""
    from cryptography import x509 as cx509
    from pyhanko.sign.validation import validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    context = ValidationContext(trust_roots=_roots(sig, anchors, stored), other_certs=stored,
                                allow_fetching=False, moment=when)
    status = outside_event_loop(lambda: validate_pdf_timestamp(sig, context))
    if not (status.intact and status.valid):
        raise SignatureInvalid(f"{where}: document timestamp {_field_name(sig)!r} does not match the file: "
                               "it was altered after it was made")
    tsa = signer_info(cx509.load_der_x509_certificate(sig.signer_cert.dump())).name
    return TimestampInfo(at=status.timestamp, tsa=tsa, ok=bool(status.intact and status.valid and status.trusted))


def _check_signature(sig, anchors: list, stored: list, when: dt.datetime, *, long_term: bool) -> SignatureCheck:
    """Validate one embedded signature (pyHanko) and describe it; raises whatever a damaged signature raises."""
    from cryptography import x509 as cx509
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    cert = sig.signer_cert
    roots = _roots(sig, anchors, stored)
    context = ValidationContext(trust_roots=roots, other_certs=stored, allow_fetching=False, moment=when)
    status = outside_event_loop(lambda: validate_pdf_signature(sig, context))
    lta = long_term_check(sig, roots, when) if long_term else None
    who = signer_info(cx509.load_der_x509_certificate(cert.dump()))
    sig_dict = sig.sig_object
    mod = status.modification_level.name if status.modification_level is not None else None
    # an expired (or since revoked) certificate fails now; proven valid at signing time, the signature stands
    rescued = not status.bottom_line and status.intact and status.valid and status.docmdp_ok and bool(lta and lta.ok)
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
        trusted=(bool(status.trusted) or rescued) and bool(anchors),
        trust_checked=bool(anchors),
        bottom_line=bool(status.bottom_line) or rescued,
        modification=mod,
        verdict=_signature_verdict(status, bool(anchors), mod, lta if rescued else None),
        kind=who.kind,
        certifies=sig.docmdp_level.name if sig.docmdp_level is not None else None,
        timestamp=timestamp_info(status),
        long_term=lta,
    )


def _signature_verdict(status, anchored: bool, mod: str | None, rescued_by: LongTerm | None = None) -> str:
    """One signature's verdict from pyHanko's status, deciding on ``bottom_line`` (see the module docstring)."""
    if rescued_by is not None:
        proven = rescued_by.proven_at.isoformat(timespec="seconds") if rescued_by.proven_at else "signing"
        expiry = status.signing_cert.not_valid_after
        why = (f"the signer's certificate expired on {expiry.date().isoformat()}" if rescued_by.checked_at > expiry
               else f"the signer's certificate is not valid on {rescued_by.checked_at.date().isoformat()} "
               f"({getattr(status.trust_problem_indic, 'name', 'unknown reason')})")
        return (f"OK: valid at signing time (proven by a timestamp of {proven}; {why}; "
                "long-term validation data embedded)"
                + ("" if anchored else " (signer not checked against a trust anchor; pass --trust CERT to check)"))
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


def verify_file(path: Path, *, trust: tuple[Path, ...] = (), at: dt.datetime | None = None) -> VerifyResult:
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
    return verify_pdf(data, trust=trust, path=str(path), at=at)


def _der():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER
