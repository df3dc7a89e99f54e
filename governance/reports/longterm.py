"""Long-term signatures: RFC 3161 timestamps and PAdES B-LTA validation data, made and checked with pyHanko.

Making one (:func:`lta_metadata`): the signature gets a signature timestamp from the time-stamping service, the
PDF's Document Security Store (DSS) gets every certificate, CRL and OCSP response of the signer's and the TSA's
paths, and a document timestamp then seals all of it.

Checking one (:func:`long_term_check`): ETSI EN 319 102-1 validation with long-term availability (pyHanko's
``ades_lta_validation``) as of a given time. It passes after the signer's certificate has expired, because the
signature timestamp proves the signature existed while the certificate was valid and the document timestamp
proves the CRLs that said so have not changed since. It needs the document timestamps' own certificates to be
valid at the validation time, or proven by a later one: past the TSA certificate's expiry the PDF needs a fresh
document timestamp.

Renewing one (:func:`add_archive_timestamp`, ``countersign pdf retimestamp``): before the last document timestamp's
TSA certificate expires, the validation data of that timestamp (its TSA's path and CRLs) goes into the DSS and a new
document timestamp, from a TSA whose certificate runs longer, seals it (PAdES B-LTA archive timestamps, ETSI
EN 319 142-1 § 5.5). Each renewal is an incremental update: the signed bytes stay as they were.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, ConnectorError, InputError
from governance.config import Settings, Workspace


@dataclass(frozen=True)
class TimestampInfo:
    """An RFC 3161 timestamp: when the TSA says, who the TSA is, and whether its token verifies."""

    at: dt.datetime
    tsa: str
    ok: bool


@dataclass(frozen=True)
class LongTerm:
    """The outcome of long-term (AdES-LTA) validation of one signature as of ``checked_at``."""

    checked_at: dt.datetime
    ok: bool
    indication: str  # pyHanko's AdES (sub)indication: OK, NO_POE, REVOKED_NO_POE, ...
    proven_at: dt.datetime | None  # the earliest time the signature is proven to have existed


def lta_metadata(signer, fetch: bool, extra_roots: tuple[Path, ...] = ()) -> dict:
    """``PdfSignatureMetadata`` arguments for PAdES B-LTA: validation data embedded, then a document timestamp.

    The anchors are the self-signed certificates that came with the signer's key (its CA chain, or the
    certificate itself when self-signed) and ``extra_roots`` (``[signing] timestamp_trust``: the TSA's CA when the
    signer's chain does not include it): the embedded validation data proves the paths to them.
    """
    from asn1crypto import x509 as ax509
    from pyhanko_certvalidator import ValidationContext

    from governance.reports.keys import load_certificate

    certs = [signer.signing_cert, *signer.cert_registry]
    roots = [c for c in certs if c.self_signed != "no"] or [signer.signing_cert]
    roots += [ax509.Certificate.load(load_certificate(p).public_bytes(_der())) for p in extra_roots]
    context = ValidationContext(trust_roots=roots, allow_fetching=fetch)
    return {"embed_validation_info": True, "use_pades_lta": True, "validation_context": context}


def timestamp_trust(workspace: Workspace, settings: Settings) -> tuple[Path, ...]:
    """``[signing] timestamp_trust`` as paths; a file that is not there is a :class:`ConfigError` before signing."""
    paths = tuple(workspace.root / p for p in settings.signing.timestamp_trust)
    for p in paths:
        if not p.is_file():
            raise ConfigError(f"[signing] timestamp_trust: {p} not found (the CA certificate, PEM, your time-stamping "
                              f"service chains to) in {workspace.config_path}")
    return paths


def _der():
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER


def timestamp_info(status) -> TimestampInfo | None:
    """The signature timestamp pyHanko found and checked (imprint, TSA signature, TSA path), if any."""
    ts = getattr(status, "timestamp_validity", None)
    if ts is None:
        return None
    from cryptography import x509 as cx509

    from governance.reports.keys import signer_info

    tsa = signer_info(cx509.load_der_x509_certificate(ts.signing_cert.dump())).name
    return TimestampInfo(at=ts.timestamp, tsa=tsa, ok=bool(ts.intact and ts.valid and ts.trusted))


def document_certificates(reader) -> list:
    """The certificates in the PDF's Document Security Store (empty when it has none)."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except Exception:  # no DSS, or one that does not parse: nothing to add
        return []
    return list(dss.load_certs())


def long_term_check(sig, roots: list, at: dt.datetime) -> LongTerm:
    """Validate ``sig`` with long-term availability (AdES-LTA, ETSI EN 319 102-1 § 5.6.3) as of ``at``.

    Only the validation data inside the PDF is used (no fetching): the point is that it suffices on its own.
    """
    from pyhanko.sign.validation.ades import ades_lta_validation
    from pyhanko.sign.validation.policy_decl import (
        LocalKnowledge,
        PdfSignatureValidationSpec,
        RevinfoOnlineFetchingRule,
        RevocationInfoGatheringSpec,
        SignatureValidationSpec,
    )
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
    from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule
    from pyhanko_certvalidator.registry import SimpleTrustManager

    from governance.reports.sign import outside_event_loop

    required = RevocationCheckingRule.CRL_OR_OCSP_REQUIRED  # long-term means revocation data proven, not assumed
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=roots),
        revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(ee_certificate_rule=required,
                                                                   intermediate_ca_cert_rule=required)))
    spec = PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=policy,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
        local_knowledge=LocalKnowledge(known_poes=_chained_poes(sig.reader))))
    timing = ValidationTimingInfo(validation_time=at, best_signature_time=at, point_in_time_validation=False)
    try:
        result = outside_event_loop(lambda: asyncio.run(ades_lta_validation(sig, spec, timing_info=timing)))
    except Exception as exc:  # a malformed DSS or timestamp chain: long-term validation is simply not possible
        return LongTerm(at, False, type(exc).__name__, None)
    indication = getattr(result.ades_subindic, "name", str(result.ades_subindic))
    api = result.api_status
    ok = indication == "OK" and api is not None and _intact(api)
    return LongTerm(at, ok, indication, result.best_signature_time if ok else None)


def _intact(api) -> bool:
    """pyHanko's bottom line of a signature, except that its timestamp's trust is the AdES verdict's: past the TSA
    certificate's expiry the token no longer validates as of today, while the long-term validation proved it valid
    when a later timestamp covered it."""
    ts = api.timestamp_validity
    # only an expired TSA certificate is left to the AdES verdict; a token from a TSA that chains to no anchor, or
    # was revoked, still fails the signature
    expired = ts is not None and getattr(ts.trust_problem_indic, "name", None) in _EXPIRY
    return bool(api.intact and api.valid and api.trusted and api.seed_value_ok
                and (api.docmdp_ok or api.modification_level is None)
                and (ts is None or (ts.intact and ts.valid and (ts.trusted or expired))))


_EXPIRY = frozenset({"OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED", "EXPIRED"})


def _chained_poes(reader) -> list:
    """Proof that each document timestamp but the last existed when the next one was made (archive timestamps).

    pyHanko 0.38 walks the chain of document timestamps oldest first and registers, for each, proof of existence
    of the certificates and revocation data it covers, but not of the earlier timestamps' own signature values; past
    the first TSA's certificate expiry its past validation of that timestamp then finds no proof (OUT_OF_BOUNDS_NO_POE)
    although the next timestamp covers the revision holding it (ETSI EN 319 102-1 § 5.6.2.1, § 5.6.3). The proof
    given here is only that coverage: the same validation still checks the next timestamp itself (a failure there
    fails the whole chain), and a timestamp not covering its entire revision gives none.
    """
    from asn1crypto import tsp
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator.ltv.poe import KnownPOE, POEType, digest_for_poe

    stamps = list(reader.embedded_timestamp_signatures)
    poes = []
    for earlier, later in itertools.pairwise(stamps):
        if later.evaluate_signature_coverage() < SignatureCoverageLevel.ENTIRE_REVISION:
            continue
        content = later.signed_data["encap_content_info"]["content"]
        at = tsp.TSTInfo.load(content.parsed.dump())["gen_time"].native
        value = earlier.signed_data["signer_infos"][0]["signature"].native
        poes.append(KnownPOE(POEType.PROVIDED, digest_for_poe(value), at))
    return poes


def long_term_json(check) -> dict:
    """The timestamp and long-term fields of one ``SignatureCheck`` for ``pdf verify --json``."""
    ts, lt = check.timestamp, check.long_term
    return {
        "timestamp": None if ts is None else {"at": ts.at, "tsa": ts.tsa, "ok": ts.ok},
        "long_term": None if lt is None else {"ok": lt.ok, "indication": lt.indication,
                                              "proven_at": lt.proven_at, "checked_at": lt.checked_at},
    }


def print_long_term(check) -> None:
    """The timestamp and long-term lines of one signature for ``pdf verify``."""
    ts, lt = check.timestamp, check.long_term
    if ts is None:
        print("  stamped:  no timestamp (the time above is the signer's own claim)")
    else:
        print(f"  stamped:  {ts.at.isoformat(timespec='seconds')} by {ts.tsa} (RFC 3161; "
              f"{'token verifies' if ts.ok else 'token does NOT verify'})")
    if lt is not None:
        state = (f"valid at signing time, proven from the embedded data as of {lt.checked_at.date().isoformat()}"
                 if lt.ok else f"not proven ({lt.indication})")
        print(f"  LTV:      {state}")


@dataclass(frozen=True)
class ArchiveStamp:
    """A PDF with a new archive timestamp: its bytes, the new timestamp, and how many document timestamps it has."""

    pdf: bytes
    timestamp: TimestampInfo
    document_timestamps: int


def add_archive_timestamp(pdf: bytes, timestamp_url: str, trust: tuple[Path, ...]) -> ArchiveStamp:
    """``pdf`` with the validation data of its last document timestamp embedded and a new document timestamp from
    ``timestamp_url`` over all of it; the last timestamp's path is validated against the anchors ``trust``.

    Refused, nothing made: an :class:`InputError` for a PDF without a document timestamp (PAdES B-LTA is made by
    signing with ``[signing] timestamp_url``) or without an anchor; a :class:`ConnectorError` when the TSA, a CRL
    address or the path of the last timestamp fails, or the renewed file does not verify.
    """
    import io

    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko_certvalidator import ValidationContext

    from governance.reports.keys import load_certificate
    from governance.reports.sign import outside_event_loop, verify_pdf

    if not trust:
        raise InputError("name the trust anchor the last document timestamp's TSA chains to (--trust CA.pem, or "
                         "[signing] timestamp_trust): its path is validated before it is renewed")
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    if not list(reader.embedded_timestamp_signatures):
        raise InputError("the PDF has no document timestamp to renew (it is not PAdES B-LTA): sign it with "
                         "[signing] timestamp_url set")
    roots = [ax509.Certificate.load(load_certificate(p).public_bytes(_der())) for p in trust]
    context = ValidationContext(trust_roots=roots, allow_fetching=True)
    stamper = PdfTimeStamper(HTTPTimeStamper(timestamp_url, timeout=10))
    try:
        out = outside_event_loop(lambda: stamper.update_archival_timestamp_chain(
            reader, context, in_place=False, output=io.BytesIO()).getvalue())
    except Exception as exc:  # the TSA, a CRL address, or the last timestamp's path failed: nothing made
        why = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ConnectorError(f"cannot add an archive timestamp with {timestamp_url} ({why}): nothing was written; "
                             "check the TSA URL, the anchor, and that the last timestamp's certificate has not expired "
                             "yet") from None
    # the renewed file is verified as a reader will: a renewal that does not verify now is not handed out
    checked = verify_pdf(out, trust=trust)
    if not checked.ok or len(checked.document_timestamps) < 2:
        raise ConnectorError(f"the PDF with an archive timestamp from {timestamp_url} does not verify "
                             f"({checked.verdict}): nothing was written")
    return ArchiveStamp(out, checked.document_timestamps[-1], len(checked.document_timestamps))
