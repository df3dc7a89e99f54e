"""Signatures that outlive their certificates: RFC 3161 timestamps from a real TSA and PAdES B-LTA.

The time-stamping service, the CA and its CRLs are certomancer's, served over HTTP on loopback
(``tests/servers/pki.py``): an independent implementation of RFC 3161 and of the PKI, not Countersign's code.
The timestamp's imprint is checked with asn1crypto and hashlib directly, and poppler's ``pdfsig`` cross-checks the
signed file where it can (it validates CMS signatures, not RFC 3161 document timestamps).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from core.errors import ConnectorError
from countersign_cli.main import main
from governance.config import Workspace, load_settings
from governance.reports.keys import load_key_pair, personal_key_paths
from governance.reports.sign import sign_pdf, verify_pdf
from tests.governance.report_world import OFFICER
from tests.servers.pki import TestPKI, start_pki

VERSION = "lab-prod:claims-fraud:2"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    """A CA, a signer whose certificate expires tomorrow, CRLs and a TSA, served on loopback."""
    running = start_pki(tmp_path_factory.mktemp("pki"), signer_valid_for=dt.timedelta(days=1))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    page = canvas.Canvas(buf, invariant=1)
    page.drawString(72, 720, "Validation report: nothing to report.")
    page.save()
    return buf.getvalue()


def _signer(pki: TestPKI, folder: Path):
    chain = folder / "signer-chain.pem"  # the signer's certificate followed by its CA's, as signers keep them
    chain.write_bytes(pki.signer_cert.read_bytes() + pki.root_cert.read_bytes())
    return load_key_pair(pki.signer_key, chain, passphrase=None, hint="test PKI")


@pytest.fixture(scope="module")
def lta(pki: TestPKI, unsigned: bytes, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    signer = _signer(pki, tmp_path_factory.mktemp("chain"))
    return sign_pdf(unsigned, signer, name="Ada Validator", reason="Validation report", timestamp_url=pki.tsa_url)


def _day_after_expiry(pki: TestPKI) -> dt.datetime:
    return pki.signer_expires.replace(tzinfo=dt.UTC) + dt.timedelta(days=1)


def test_the_timestamp_imprint_is_the_digest_of_the_signature_value(lta: bytes) -> None:
    """RFC 3161 § 2.4.2 / RFC 5652 annex: the token's messageImprint is the hash of the SignerInfo's signature."""
    from asn1crypto import cms, tsp
    from pyhanko.pdf_utils.reader import PdfFileReader

    sig = PdfFileReader(io.BytesIO(lta)).embedded_regular_signatures[0]
    info = sig.signed_data["signer_infos"][0]
    tokens = [a for a in info["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token"]
    assert len(tokens) == 1, "the signature carries no RFC 3161 signature timestamp"
    token: cms.ContentInfo = tokens[0]["values"][0]
    tst = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].parsed.dump())
    imprint = tst["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].native == "sha256"
    assert imprint["hashed_message"].native == hashlib.sha256(info["signature"].native).digest()
    checked = verify_pdf(lta).signatures[0]
    assert checked.timestamp is not None and checked.timestamp.ok
    assert checked.timestamp.at == tst["gen_time"].native and checked.timestamp.tsa == "Countersign Test TSA"


def test_a_signature_whose_certificate_expired_verifies_as_valid_at_signing_time(
        lta: bytes, pki: TestPKI, unsigned: bytes, tmp_path: Path) -> None:
    later = _day_after_expiry(pki)
    today = verify_pdf(lta, trust=(pki.root_cert,))
    assert today.ok and today.signatures[0].trusted, today.verdict
    after = verify_pdf(lta, trust=(pki.root_cert,), at=later)
    assert after.ok, after.verdict
    assert after.verdict.startswith("OK: valid at signing time") and "expired on" in after.verdict
    lt = after.signatures[0].long_term
    assert lt is not None and lt.ok and lt.proven_at is not None and lt.proven_at < pki.signer_expires.replace(
        tzinfo=dt.UTC)
    assert after.ltv.startswith("PAdES B-LTA") and len(after.document_timestamps) == 1
    # the same certificate without timestamp and validation data: the day after expiry it no longer verifies
    plain = sign_pdf(unsigned, _signer(pki, tmp_path), name="Ada Validator", reason="no timestamp")
    assert verify_pdf(plain, trust=(pki.root_cert,)).ok
    expired = verify_pdf(plain, trust=(pki.root_cert,), at=later)
    assert not expired.ok and expired.ltv == "none (PAdES B-B)"


def test_pdf_verify_at_a_later_date_reports_timestamp_and_ltv(lta: bytes, pki: TestPKI, tmp_path: Path,
                                                               capsys) -> None:
    path = tmp_path / "lta.pdf"
    path.write_bytes(lta)
    later = _day_after_expiry(pki).date().isoformat()
    assert main(["pdf", "verify", str(path), "--trust", str(pki.root_cert), "--at", later]) == 0
    text = capsys.readouterr().out
    assert "stamped:  " in text and "by Countersign Test TSA (RFC 3161; token verifies)" in text
    assert f"LTV:      valid at signing time, proven from the embedded data as of {later}" in text
    assert "long-term: PAdES B-LTA" in text and "verdict: OK: valid at signing time" in text
    assert main(["pdf", "verify", str(path), "--trust", str(pki.root_cert), "--at", later, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (sig,) = doc["signatures"]
    assert doc["ok"] and sig["timestamp"]["ok"] and sig["long_term"]["ok"] and len(doc["document_timestamps"]) == 1
    assert main(["pdf", "verify", str(path), "--at", "next week"]) == 2
    assert "--at 'next week': not an ISO 8601" in capsys.readouterr().err


def test_changes_after_the_document_timestamp_fail_verification(lta: bytes, pki: TestPKI) -> None:
    """Validation data may follow the last timestamp; anything else appended there is reported."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(lta))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Rotate"] = generic.NumberObject(90)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    result = verify_pdf(out.getvalue(), trust=(pki.root_cert,))
    assert not result.ok and result.verdict.startswith("FAILED"), result.verdict


def test_an_unreachable_time_stamping_service_refuses_to_sign(pki: TestPKI, unsigned: bytes, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/tsa"
    with pytest.raises(ConnectorError, match=r"cannot make a long-term signature with the time-stamping service "
                                             r"http://127\.0\.0\.1:\d+/tsa .*nothing was signed"):
        sign_pdf(unsigned, _signer(pki, tmp_path), name="Ada", reason="r", timestamp_url=dead)


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler's pdfsig is not installed")
def test_pdfsig_validates_the_timestamped_signature(lta: bytes, tmp_path: Path) -> None:
    path = tmp_path / "lta.pdf"
    path.write_bytes(lta)
    out = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True, check=False).stdout
    first, second = out.split("Signature #2:")
    assert "Signer Certificate Common Name: Ada Validator" in first
    assert "Signature Validation: Signature is Valid." in first
    # poppler 22 lists the document timestamp (signed by the TSA) but cannot validate RFC 3161 document timestamps
    assert "Signer Certificate Common Name: Countersign Test TSA" in second


def test_an_export_with_a_tsa_configured_is_pades_b_lta(demo_copy: Workspace, pki: TestPKI, capsys) -> None:
    from governance.reports.export import export_report
    from tests.governance.report_world import open_world

    cfg = demo_copy.config_path.read_text(encoding="utf-8")
    demo_copy.config_path.write_text(cfg.replace("[signing]\n", f'[signing]\ntimestamp_url = "{pki.tsa_url}"\n'),
                                     encoding="utf-8")
    key_path, cert_path = personal_key_paths(demo_copy, load_settings(demo_copy), OFFICER)
    key_path.write_bytes(pki.signer_key.read_bytes())
    cert_path.write_bytes(pki.signer_cert.read_bytes() + pki.root_cert.read_bytes())
    w = open_world(demo_copy)
    assert w.settings.signing.timestamp_url == pki.tsa_url
    report = export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), VERSION, "pra-ss1-23", archive=True)
    result = verify_pdf(report.pdf, trust=(pki.root_cert,), at=_day_after_expiry(pki))
    assert result.ok and result.verdict.startswith("OK: valid at signing time"), result.verdict
    assert result.signatures[0].timestamp is not None and result.ltv.startswith("PAdES B-LTA")


def test_a_countersignature_with_a_self_signed_key_trusts_the_tsa_named_in_the_config(demo_copy: Workspace,
                                                                                     pki: TestPKI) -> None:
    """A signer whose certificate is self-signed does not chain to the TSA's CA: ``[signing] timestamp_trust``
    names it, and without it the countersignature is refused (nothing signed), not made without its LTV data."""
    from governance.reports.countersign import countersign_pdf
    from governance.reports.export import export_report
    from tests.governance.report_world import open_world

    validator = "validator@demo.countersign.dev"
    cfg = demo_copy.config_path.read_text(encoding="utf-8")
    demo_copy.config_path.write_text(cfg.replace("[signing]\n", f'[signing]\ntimestamp_url = "{pki.tsa_url}"\n'),
                                     encoding="utf-8")
    key_path, cert_path = personal_key_paths(demo_copy, load_settings(demo_copy), OFFICER)
    key_path.write_bytes(pki.signer_key.read_bytes())
    cert_path.write_bytes(pki.signer_cert.read_bytes() + pki.root_cert.read_bytes())
    w = open_world(demo_copy)
    report = export_report(w.workspace, w.settings, w.catalog, w.who(OFFICER), VERSION, "pra-ss1-23", archive=True)
    before = sorted(demo_copy.exports_dir.iterdir())
    with pytest.raises(ConnectorError, match="nothing was signed"):
        countersign_pdf(w.workspace, w.settings, w.catalog, w.who(validator), report.pdf)
    assert sorted(demo_copy.exports_dir.iterdir()) == before
    shutil.copy(pki.root_cert, demo_copy.root / "keys" / "tsa-ca.pem")
    demo_copy.config_path.write_text(demo_copy.config_path.read_text(encoding="utf-8").replace(
        "[signing]\n", '[signing]\ntimestamp_trust = ["keys/tsa-ca.pem"]\n'), encoding="utf-8")
    w = open_world(demo_copy)
    done = countersign_pdf(w.workspace, w.settings, w.catalog, w.who(validator), report.pdf)
    result = verify_pdf(done.path.read_bytes())
    assert result.ok, result.verdict
    assert [s.timestamp is not None and s.timestamp.ok for s in result.signatures] == [True, True]
    assert result.ltv.startswith("PAdES B-LTA") and len(result.document_timestamps) == 2


# -- archive timestamps: provable after the time-stamping service's own certificate expires ------------------------


@pytest.fixture(scope="module")
def short_tsa(tmp_path_factory: pytest.TempPathFactory):
    """A PKI whose first TSA's certificate expires in two days (the signer's tomorrow); its archive TSA's in years."""
    running = start_pki(tmp_path_factory.mktemp("pki-short"), signer_valid_for=dt.timedelta(days=1),
                        tsa_valid_for=dt.timedelta(days=2))
    yield running
    running.stop()


def test_an_archive_timestamp_keeps_a_pdf_provable_after_its_tsas_certificate_expires(
        short_tsa: TestPKI, unsigned: bytes, tmp_path: Path, capsys) -> None:
    assert short_tsa.tsa_expires is not None
    signed = sign_pdf(unsigned, _signer(short_tsa, tmp_path), name="Ada Validator", reason="Validation report",
                      timestamp_url=short_tsa.tsa_url)
    after_tsa = short_tsa.tsa_expires.replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    root = (short_tsa.root_cert,)
    assert verify_pdf(signed, trust=root, at=_day_after_expiry(short_tsa)).ok  # the signer expired: still proven
    stale = verify_pdf(signed, trust=root, at=after_tsa)
    assert not stale.ok, stale.verdict  # the document timestamp's own certificate expired: nothing seals the data
    source, out = tmp_path / "report.pdf", tmp_path / "report-archived.pdf"
    source.write_bytes(signed)
    assert main(["pdf", "retimestamp", str(source), "--tsa", short_tsa.archive_tsa_url, "--trust",
                 str(short_tsa.root_cert), "--out", str(out)]) == 0
    assert "archive timestamp by Countersign Archive TSA" in capsys.readouterr().out
    renewed = out.read_bytes()
    assert renewed.startswith(signed) and source.read_bytes() == signed  # an incremental update, the source untouched
    result = verify_pdf(renewed, trust=root, at=after_tsa)
    assert result.ok and result.verdict.startswith("OK: valid at signing time"), result.verdict
    assert [t.tsa for t in result.document_timestamps] == ["Countersign Test TSA", "Countersign Archive TSA"]
    assert result.ltv.startswith("PAdES B-LTA") and "2 document timestamp" in result.ltv


def test_an_archive_timestamp_is_refused_without_a_tsa_an_anchor_or_a_document_timestamp(
        short_tsa: TestPKI, unsigned: bytes, tmp_path: Path, capsys) -> None:
    plain = tmp_path / "plain.pdf"  # PAdES B-B: no document timestamp to renew
    plain.write_bytes(sign_pdf(unsigned, _signer(short_tsa, tmp_path), name="Ada", reason="r"))
    out = tmp_path / "out.pdf"
    args = ["--tsa", short_tsa.archive_tsa_url, "--trust", str(short_tsa.root_cert), "--out", str(out)]
    assert main(["pdf", "retimestamp", str(plain), *args]) == 2
    assert "no document timestamp" in capsys.readouterr().err and not out.exists()
    assert main(["pdf", "retimestamp", str(plain), "--tsa", short_tsa.archive_tsa_url, "--out", str(out)]) == 2
    assert "--trust" in capsys.readouterr().err and not out.exists()
