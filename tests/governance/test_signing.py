"""PAdES signatures: signing, verification through `countersign pdf verify`, tampering, trust, keys."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from core.errors import ConfigError, SignatureInvalid
from countersign_cli.main import main
from governance.config import Workspace, load_settings
from governance.reports.keys import (
    SEAL_ROLE,
    ensure_demo_keys,
    generate_self_signed,
    key_paths,
    load_signer,
    personal_key_paths,
)
from governance.reports.sign import outside_event_loop, sign_pdf, verify_pdf
from tests.governance.report_world import AUDITOR, OFFICER


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    """A small deterministic PDF (the signing path does not depend on the report's content)."""
    from reportlab import rl_config
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    rl_config.invariant = 1
    buf = io.BytesIO()
    SimpleDocTemplate(buf, invariant=1).build(
        [Paragraph(f"Line {i}: the validation found nothing to report.", getSampleStyleSheet()["Normal"])
         for i in range(200)]
    )
    return buf.getvalue()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    generate_self_signed(d / "k.pem", d / "c.pem", name="Ada Validator", role="Head of Model Validation",
                         organisation="Bank Example", email="ada@bank.example")
    generate_self_signed(d / "k2.pem", d / "c2.pem", name="Mallory")
    return {"key": d / "k.pem", "cert": d / "c.pem", "other_key": d / "k2.pem", "other_cert": d / "c2.pem"}


@pytest.fixture(scope="module")
def signed(unsigned: bytes, keys: dict[str, Path]) -> bytes:
    from pyhanko.sign import signers

    signer = signers.SimpleSigner.load(str(keys["key"]), str(keys["cert"]))
    return sign_pdf(unsigned, signer, name="Ada Validator", reason="Validation report, signed by Ada Validator",
                    location="London")


def verify_cli(path: Path, *trust: Path, capsys) -> tuple[int, str]:
    args = ["pdf", "verify", str(path)]
    for t in trust:
        args += ["--trust", str(t)]
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_signature_covers_the_whole_file_and_matches_an_independent_check(signed: bytes, keys) -> None:
    """Recompute the digest over /ByteRange and check the CMS signature with `cryptography`, not pyHanko."""
    from asn1crypto import cms

    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", signed)
    assert m
    a, b, c, d = (int(x) for x in m.groups())
    assert a == 0 and c + d == len(signed)  # everything except the signature's own hex string
    contents = signed[a + b:c].strip(b"<>")
    info = cms.ContentInfo.load(bytes.fromhex(contents.decode()), strict=False)  # zero padding follows the DER
    signer_info = info["content"]["signer_infos"][0]
    attrs = signer_info["signed_attrs"]
    digest = next(x["values"][0].native for x in attrs if x["type"].native == "message_digest")
    assert digest == hashlib.sha256(signed[a:a + b] + signed[c:c + d]).digest()
    cert = load_cert(keys["cert"])
    cert.public_key().verify(signer_info["signature"].native, attrs.untag().dump(), ec.ECDSA(hashes.SHA256()))


def load_cert(path: Path):
    from cryptography import x509

    return x509.load_pem_x509_certificate(path.read_bytes())


def test_verify_reports_signer_role_and_coverage(signed: bytes, keys) -> None:
    result = verify_pdf(signed, trust=(keys["cert"],))
    assert result.ok
    s = result.signatures[0]
    assert (s.signer, s.signer_role, s.signer_organisation) == ("Ada Validator", "Head of Model Validation",
                                                               "Bank Example")
    assert s.name == "Ada Validator" and s.location == "London" and "Ada Validator" in (s.reason or "")
    assert s.coverage == "ENTIRE_FILE" and s.intact and s.valid and s.trusted
    assert s.certificate_sha256 == load_cert(keys["cert"]).fingerprint(hashes.SHA256()).hex()


def test_cli_verify_exit_codes(signed: bytes, unsigned: bytes, keys, tmp_path: Path, capsys) -> None:
    good = tmp_path / "good.pdf"
    good.write_bytes(signed)
    code, out = verify_cli(good, capsys=capsys)
    assert code == 0 and "Ada Validator (Head of Model Validation)" in out and "trusted not checked" in out
    code, out = verify_cli(good, keys["cert"], capsys=capsys)
    assert code == 0 and "signed by a trusted certificate" in out
    # a PDF signed by another key fails once the verifier names the certificate it trusts
    code, out = verify_cli(good, keys["other_cert"], capsys=capsys)
    assert code == 1 and "does not chain to the trusted certificate" in out
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(unsigned)
    code, out = verify_cli(plain, capsys=capsys)
    assert code == 1 and "carries no signature" in out
    notpdf = tmp_path / "x.pdf"
    notpdf.write_text("hello")
    code, out = verify_cli(notpdf, capsys=capsys)
    assert code == 2 and "not a PDF" in out
    code, out = verify_cli(tmp_path / "absent.pdf", capsys=capsys)
    assert code == 2 and "no such file" in out
    code, out = verify_cli(good, tmp_path / "absent.pem", capsys=capsys)
    assert code == 2 and "certificate file not found" in out
    code, out = verify_cli(good, notpdf, capsys=capsys)
    assert code == 2 and "not a PEM or DER X.509 certificate" in out


@pytest.mark.parametrize("where", [0.2, 0.4, 0.6, 0.8])
def test_a_one_byte_change_makes_verify_exit_1(signed: bytes, tmp_path: Path, where: float, capsys) -> None:
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", signed)
    start, end = int(m.group(2)), int(m.group(3))  # the signature's hex string: tested separately below
    pos = int(len(signed) * where)
    if start <= pos < end:
        pos = end + 10
    data = bytearray(signed)
    data[pos] = data[pos] ^ 0x01
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(data))
    code, out = verify_cli(bad, capsys=capsys)
    assert code == 1, out
    assert "FAILED" in out or "damaged" in out


def test_a_change_inside_the_signature_value_fails(signed: bytes, tmp_path: Path, capsys) -> None:
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", signed)
    sig_start = int(m.group(2)) + 1
    data = bytearray(signed)
    # flip one hex digit near the end of the DER signature value (inside the real signature bytes)
    hex_text = signed[sig_start:int(m.group(3)) - 1].rstrip(b"0")
    pos = sig_start + len(hex_text) - 4
    # a different nibble value (hex is case-insensitive: 'A' -> 'a' would change nothing)
    data[pos] = ord(format(int(chr(data[pos]), 16) ^ 0x1, "x"))
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(data))
    code, out = verify_cli(bad, capsys=capsys)
    assert code == 1, out


def test_content_appended_after_signing_is_reported(signed: bytes) -> None:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    w.root["/Countersign"] = generic.pdf_string("changed after signing")
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    result = verify_pdf(out.getvalue())
    assert not result.ok
    assert result.signatures[0].coverage != "ENTIRE_FILE" or not result.signatures[0].bottom_line


def test_garbage_is_not_a_signature() -> None:
    with pytest.raises(SignatureInvalid):
        verify_pdf(b"%PDF-1.4\n garbage")


def test_demo_keys_are_created_once_a_seal_and_one_per_signer(demo_copy: Workspace) -> None:
    from cryptography.x509.oid import NameOID

    from governance.demo import signing_personas

    settings = load_settings(demo_copy)
    key, cert = key_paths(demo_copy, settings)
    people = signing_personas(settings)
    assert set(people) == {OFFICER, "validator@demo.countersign.dev"}  # the two risk officers; not the auditor
    before = cert.read_bytes()  # the demo generator already called ensure_demo_keys
    again = ensure_demo_keys(demo_copy, settings, people)
    assert not again.created and cert.read_bytes() == before
    key.unlink()
    cert.unlink()
    fresh = ensure_demo_keys(demo_copy, settings, people)
    assert fresh.created and key.stat().st_mode & 0o077 == 0
    seal = load_cert(cert).subject
    # the seal says it is the organisation's seal, and names no person
    assert seal.get_attributes_for_oid(NameOID.TITLE)[0].value == SEAL_ROLE
    assert seal.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == settings.workspace.name
    assert seal.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{settings.workspace.name} seal"
    assert not seal.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    pkey, pcert = personal_key_paths(demo_copy, settings, OFFICER)
    person = load_cert(pcert).subject
    assert person.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Rita Okafor"
    assert person.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == OFFICER
    assert pkey.stat().st_mode & 0o077 == 0


def test_missing_key_is_a_config_error_that_says_what_to_do(demo_copy: Workspace) -> None:
    settings = load_settings(demo_copy)
    key, _cert = key_paths(demo_copy, settings)
    key.unlink()
    with pytest.raises(ConfigError, match=r"signing key not found.*\[signing\]"):
        load_signer(demo_copy, settings)


def test_a_key_that_does_not_match_the_certificate_is_refused(demo_copy: Workspace, keys) -> None:
    settings = load_settings(demo_copy)
    key, _cert = key_paths(demo_copy, settings)
    key.write_bytes(keys["other_key"].read_bytes())
    with pytest.raises(ConfigError, match="does not belong to the first certificate"):
        load_signer(demo_copy, settings)


def test_an_organisation_pkcs12_with_a_passphrase_signs_reports(demo_copy: Workspace, keys, tmp_path: Path,
                                                                 capsys, monkeypatch) -> None:
    """The documented route for an organisation's seal: a .p12 named in [signing], passphrase in the env; it signs
    what an exporter without a personal signature (the auditor) exports."""
    org_key = serialization.load_pem_private_key(keys["key"].read_bytes(), password=None)
    bundle = pkcs12.serialize_key_and_certificates(
        b"org", org_key, load_cert(keys["cert"]), None, serialization.BestAvailableEncryption(b"s3cret")
    )
    (demo_copy.keys_dir / "org.p12").write_bytes(bundle)
    cfg = demo_copy.config_path.read_text(encoding="utf-8")
    cfg = cfg.replace('key = "keys/signing-key.pem"', 'key = "keys/org.p12"').replace(
        'certificate = "keys/signing-cert.pem"', 'certificate = "keys/org.p12"')
    demo_copy.config_path.write_text(cfg, encoding="utf-8")
    settings = load_settings(demo_copy)
    with pytest.raises(ConfigError, match="passphrase"):
        load_signer(demo_copy, settings, passphrase=b"wrong")

    out = tmp_path / "org.pdf"
    monkeypatch.setenv("COUNTERSIGN_SIGNING_PASSPHRASE", "s3cret")
    code = main(["report", "--workspace", str(demo_copy.root), "--actor", AUDITOR, "--version",
                 "lab-prod:claims-fraud:2", "--template", "pra-ss1-23", "--out", str(out), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["signer"] == "Ada Validator" and doc["signer_role"] == "Head of Model Validation"
    assert doc["signer_kind"] == "seal"
    assert verify_pdf(out.read_bytes(), trust=(keys["cert"],)).ok


def _issue(ca_key, ca_cert, name: str, role: str):
    """A signing certificate issued by ``ca_cert`` (what an organisation's PKI hands a signer)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                                 x509.NameAttribute(NameOID.TITLE, role)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_cert_sign=False,
                                     crl_sign=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def test_an_organisation_ca_issued_certificate_verifies_against_the_ca(demo_copy: Workspace, keys, tmp_path: Path,
                                                                       capsys) -> None:
    """A signer's personal certificate issued by the organisation's CA: the PEM holds the signer's certificate
    followed by the CA's; examiners trust the CA, not the signer."""
    ca_key = serialization.load_pem_private_key(keys["key"].read_bytes(), password=None)
    ca_cert = load_cert(keys["cert"])  # self-signed with CA=true: stands in for the organisation's CA
    key, cert = _issue(ca_key, ca_cert, "Grace Officer", "Chief Risk Officer")
    key_path, cert_path = personal_key_paths(demo_copy, load_settings(demo_copy), OFFICER)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "ca.pdf"
    assert main(["report", "--workspace", str(demo_copy.root), "--actor", OFFICER, "--version",
                 "lab-prod:claims-fraud:2", "--out", str(out)]) == 0
    capsys.readouterr()
    code, text = verify_cli(out, keys["cert"], capsys=capsys)
    assert code == 0 and "Grace Officer (Chief Risk Officer)" in text
    code, _text = verify_cli(out, keys["other_cert"], capsys=capsys)
    assert code == 1


def test_signing_and_verifying_work_inside_a_running_event_loop(unsigned: bytes, keys) -> None:
    """pyHanko's sync API calls asyncio.run; callers inside a loop (notebooks, async servers) must still work."""
    import asyncio

    from pyhanko.sign import signers

    signer = signers.SimpleSigner.load(str(keys["key"]), str(keys["cert"]))

    async def inside() -> bool:
        asyncio.get_running_loop()  # we are inside a running loop here
        signed = sign_pdf(unsigned, signer, name="Ada Validator", reason="inside a loop")
        return verify_pdf(signed, trust=(keys["cert"],)).ok

    # a thread of its own, so the test does not depend on whether this session already runs a loop
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(lambda: asyncio.new_event_loop().run_until_complete(inside())).result()


# -- who signs: each person with their own key, or the organisation seal naming the exporter ---------------------

VERSION = "lab-prod:claims-fraud:2"
VALIDATOR = "validator@demo.countersign.dev"


def _export(ws: Workspace, email: str, **kw):
    from governance.reports.export import export_report
    from tests.governance.report_world import open_world

    w = open_world(ws)
    return w, export_report(w.workspace, w.settings, w.catalog, w.who(email), VERSION, "pra-ss1-23", archive=True,
                            **kw)


def _fingerprint(path: Path) -> str:
    return load_cert(path).fingerprint(hashes.SHA256()).hex()


def test_an_auditors_export_is_sealed_by_the_organisation_and_names_the_auditor(demo_copy: Workspace) -> None:
    w, report = _export(demo_copy, AUDITOR)
    (sig,) = verify_pdf(report.pdf).signatures
    seal_cert = key_paths(demo_copy, w.settings)[1]
    # sealed with the workspace's seal, not with any risk officer's personal certificate
    assert sig.kind == "seal" and report.signer_kind == "seal"
    assert sig.certificate_sha256 == _fingerprint(seal_cert)
    for officer in (OFFICER, VALIDATOR):
        assert sig.certificate_sha256 != _fingerprint(personal_key_paths(demo_copy, w.settings, officer)[1])
    assert sig.signer == f"{w.settings.workspace.name} seal" and sig.signer_organisation == w.settings.workspace.name
    assert f"Exported by {AUDITOR}; sealed by {w.settings.workspace.name}" in sig.reason
    assert verify_pdf(report.pdf, trust=(seal_cert,)).ok
    # the ledger records who exported and in which capacity the certificate signed
    from governance import ledger

    entry = next(e for e in ledger.entries_for(w.catalog, f"version:{VERSION}") if e.hash == report.ledger_hash)
    assert entry.actor == AUDITOR and entry.payload["signer_kind"] == "seal"
    assert entry.payload["certificate_sha256"] == sig.certificate_sha256


@pytest.mark.parametrize(("email", "name"), [(OFFICER, "Rita Okafor"), (VALIDATOR, "Victor Lang")])
def test_a_risk_officers_export_is_signed_with_their_own_certificate(demo_copy: Workspace, email: str,
                                                                      name: str) -> None:
    w, report = _export(demo_copy, email)
    own = personal_key_paths(demo_copy, w.settings, email)[1]
    (sig,) = verify_pdf(report.pdf).signatures
    assert (sig.signer, sig.kind, report.signer_kind) == (name, "person", "person")
    assert sig.certificate_sha256 == _fingerprint(own) and email in sig.reason
    assert sig.certifies == "FILL_FORMS"  # certifies, and allows countersignatures only
    assert verify_pdf(report.pdf, trust=(own,)).ok
    assert not verify_pdf(report.pdf, trust=(key_paths(demo_copy, w.settings)[1],)).ok  # not the seal


def test_an_exporter_who_may_not_sign_without_a_seal_gets_a_clear_error(demo_copy: Workspace) -> None:
    from core.errors import AccessDenied

    cfg = demo_copy.config_path.read_text(encoding="utf-8").replace("seal = true", "seal = false")
    demo_copy.config_path.write_text(cfg, encoding="utf-8")
    before = sorted(demo_copy.exports_dir.glob("*"))
    with pytest.raises(AccessDenied, match=rf"{AUDITOR} \(auditor\) may export but does not sign reports.*no "
                                           rf"organisation seal.*signed by: {OFFICER}, {VALIDATOR}"):
        _export(demo_copy, AUDITOR)
    assert sorted(demo_copy.exports_dir.glob("*")) == before  # nothing written
    # the risk officers still sign with their own keys
    assert _export(demo_copy, OFFICER)[1].signer == "Rita Okafor"


def test_a_signer_without_a_personal_key_falls_back_to_the_seal(demo_copy: Workspace) -> None:
    settings = load_settings(demo_copy)
    for p in personal_key_paths(demo_copy, settings, OFFICER):
        p.unlink()
    _w, report = _export(demo_copy, OFFICER)
    (sig,) = verify_pdf(report.pdf).signatures
    assert sig.kind == "seal" and f"Exported by {OFFICER}; sealed by" in sig.reason


def test_the_pdf_states_the_build_time_as_its_creation_date(demo_copy: Workspace, tmp_path: Path) -> None:
    import datetime as dt
    import shutil
    import subprocess

    built_at = dt.datetime(2026, 11, 30, 16, 45, 12)
    _w, report = _export(demo_copy, OFFICER, built_at=built_at)
    assert report.built_at == built_at
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(report.pdf))
    # the signature's incremental update may move ModDate to the signing time; the creation date is the build time
    assert reader.metadata["/CreationDate"] == "D:20261130164512+00'00'"
    from tests.governance.report_world import pdf_text

    text = pdf_text(report.pdf)
    assert "Generated at 2026-11-30 16:45:12 UTC Records as of" in text  # the cover, then every page's footer
    assert text.count("generated 2026-11-30 16:45:12 UTC Page") == len(reader.pages)
    if shutil.which("pdfinfo"):
        pdf = tmp_path / "r.pdf"
        pdf.write_bytes(report.pdf)
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True,
                              env={"TZ": "UTC", "PATH": "/usr/bin:/bin"}).stdout
        assert re.search(r"CreationDate:\s+Mon Nov 30 16:45:12 2026 UTC", info), info


# -- countersignatures ---------------------------------------------------------------------------------------------


def _countersign_cli(ws: Workspace, path: Path, actor: str, capsys, *extra: str) -> tuple[int, dict | str]:
    code = main(["pdf", "countersign", str(path), "--workspace", str(ws.root), "--actor", actor, *extra])
    captured = capsys.readouterr()
    if "--json" in extra and code == 0:
        return code, json.loads(captured.out)
    return code, captured.out + captured.err


def test_a_second_risk_officer_countersigns_and_both_signatures_verify(demo_copy: Workspace, tmp_path: Path,
                                                                       capsys) -> None:
    from governance import ledger

    w, report = _export(demo_copy, OFFICER)
    original = report.path.read_bytes()
    code, doc = _countersign_cli(demo_copy, report.path, VALIDATOR, capsys, "--json")
    assert code == 0, doc
    assert doc["signers"] == ["Rita Okafor", "Victor Lang"] and doc["countersigned_sha256"] == report.sha256
    countersigned = Path(doc["file"])
    assert countersigned.parent == demo_copy.exports_dir and report.path.read_bytes() == original  # kept as it was
    assert hashlib.sha256(countersigned.read_bytes()).hexdigest() == doc["sha256"]

    # `pdf verify` lists both signers, each valid, the first certifying the document and both persons
    assert main(["pdf", "verify", str(countersigned), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    first, second = result["signatures"]
    assert result["ok"] and (first["signer"], second["signer"]) == ("Rita Okafor", "Victor Lang")
    assert first["certifies"] == "FILL_FORMS" and second["certifies"] is None
    assert all(s["bottom_line"] and s["intact"] and s["valid"] and s["kind"] == "person" for s in (first, second))
    assert first["signed_at"] and second["signed_at"]
    assert second["coverage"] == "ENTIRE_FILE" and VALIDATOR in second["reason"]
    for email in (OFFICER, VALIDATOR):  # each chains to its own certificate
        own = personal_key_paths(demo_copy, w.settings, email)[1]
        checks = verify_pdf(countersigned.read_bytes(), trust=(own,)).signatures
        assert [c.trusted for c in checks] == [email == OFFICER, email == VALIDATOR]
    assert main(["pdf", "verify", str(countersigned)]) == 0
    text = capsys.readouterr().out
    assert "certifies the document" in text and "approval signature" in text and text.count("[person]") == 2

    # the countersignature is a ledger entry of its own, and the ledger still verifies
    entry = next(e for e in ledger.entries_for(w.catalog, f"version:{VERSION}") if e.hash == doc["ledger_hash"])
    assert entry.action == "report.countersign" and entry.actor == VALIDATOR
    assert entry.payload["countersigned_sha256"] == report.sha256 and entry.payload["sha256"] == doc["sha256"]
    assert entry.payload["file"] == countersigned.name
    assert ledger.verify(w.workspace, w.catalog, w.who(AUDITOR)).ok


def test_tampering_after_a_countersignature_fails_verification(demo_copy: Workspace, tmp_path: Path,
                                                               capsys) -> None:
    _w, report = _export(demo_copy, OFFICER)
    code, doc = _countersign_cli(demo_copy, report.path, VALIDATOR, capsys, "--json")
    assert code == 0
    signed = Path(doc["file"]).read_bytes()
    ranges = [tuple(int(x) for x in m.groups()) for m in
              re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", signed)]
    assert len(ranges) == 2
    first_revision_end = ranges[0][2] + ranges[0][3]
    for pos in (first_revision_end // 3, first_revision_end + (len(signed) - first_revision_end) // 2):
        if any(a + b <= pos < c for a, b, c, _d in ranges):  # not inside a signature value (tested elsewhere)
            pos = ranges[-1][2] + 5
        data = bytearray(signed)
        data[pos] ^= 0x01
        bad = tmp_path / f"bad-{pos}.pdf"
        bad.write_bytes(bytes(data))
        code, out = verify_cli(bad, capsys=capsys)
        assert code == 1, (pos, out)

    # a change appended after both signatures (not a signature) is a finding too
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    writer.root["/Countersign"] = generic.pdf_string("changed after countersigning")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    assert not verify_pdf(out.getvalue()).ok


def test_countersigning_is_refused_with_the_reason(demo_copy: Workspace, unsigned: bytes, keys, tmp_path: Path,
                                                   capsys) -> None:
    _w, report = _export(demo_copy, OFFICER)
    # the exporter cannot countersign their own signature again
    code, out = _countersign_cli(demo_copy, report.path, OFFICER, capsys)
    assert code == 2 and f"{OFFICER} has already signed this report" in out
    # an auditor does not sign personally, so cannot countersign
    code, out = _countersign_cli(demo_copy, report.path, AUDITOR, capsys)
    assert code == 2 and "does not sign reports" in out and VALIDATOR in out
    # a PDF this workspace never exported (validly signed elsewhere) is not countersigned
    from pyhanko.sign import signers

    signer = signers.SimpleSigner.load(str(keys["key"]), str(keys["cert"]))
    foreign = tmp_path / "foreign.pdf"
    foreign.write_bytes(sign_pdf(unsigned, signer, name="Ada Validator", reason="elsewhere"))
    code, out = _countersign_cli(demo_copy, foreign, VALIDATOR, capsys)
    assert code == 2 and "no export with sha256" in out
    # a report certified to allow no later change (how reports were signed before countersigning existed)
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields

    meta = signers.PdfSignatureMetadata(field_name="Old", md_algorithm="sha256", certify=True,
                                        docmdp_permissions=fields.MDPPerm.NO_CHANGES)
    frozen = tmp_path / "frozen.pdf"
    # pyHanko's sync API calls asyncio.run: off the loop a browser test session leaves running, as the product does
    frozen.write_bytes(outside_event_loop(
        lambda: signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(unsigned)), meta, signer=signer).getvalue()))
    code, out = _countersign_cli(demo_copy, frozen, VALIDATOR, capsys)
    assert code == 2 and "allows no later signature: export the report again" in out
    # a tampered report is not countersigned (exit 1: a finding)
    data = bytearray(report.path.read_bytes())
    data[len(data) // 3] ^= 0x01
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(bytes(data))
    code, out = _countersign_cli(demo_copy, broken, VALIDATOR, capsys)
    assert code == 1 and "does not verify" in out


def test_keys_and_exports_are_written_owner_only(demo_copy: Workspace, tmp_path: Path, capsys) -> None:
    """Signing keys, reports and packs are readable by their owner only (0600 files, 0700 new folders)."""
    folder = tmp_path / "new-keys"
    generate_self_signed(folder / "k.pem", folder / "c.pem", name="Ada Validator")
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {(folder / n).stat().st_mode & 0o777 for n in ("k.pem", "c.pem")} == {0o600}
    assert main(["report", "--workspace", str(demo_copy.root), "--actor", OFFICER, "--version",
                 "lab-prod:claims-fraud:2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    report, page = Path(doc["file"]), Path(doc["html_file"])
    assert report.parent == demo_copy.exports_dir and report.stat().st_mode & 0o777 == 0o600
    assert page == report.with_suffix(".html") and page.stat().st_mode & 0o777 == 0o600  # the HTML beside it
    out = tmp_path / "packs" / "p.zip"
    assert main(["pack", "--workspace", str(demo_copy.root), "--actor", "auditor@demo.countersign.dev",
                 "--version", "lab-prod:claims-fraud:2", "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600 and out.parent.stat().st_mode & 0o777 == 0o700
    assert demo_copy.exports_dir.stat().st_mode & 0o777 == 0o700  # the demo build creates it owner-only


# -- malformed input: a verdict, never a traceback (issue 34, finding 8) -------------------------------------------


def _sig_hex(signed: bytes) -> tuple[int, int]:
    """Where the signature's hex string lies (between the angle brackets of /Contents)."""
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", signed)
    assert m
    return int(m.group(2)) + 1, int(m.group(3)) - 1


def _renamed_signer(signed: bytes) -> bytes:
    """The signer's name changed inside the embedded certificate (same length, so every offset still holds)."""
    start, end = _sig_hex(signed)
    body = signed[start:end].lower()
    old, new = b"Ada Validator".hex().encode(), b"Eve Validator".hex().encode()
    assert old in body
    return signed[:start] + body.replace(old, new) + signed[end:]


def _flipped_der(signed: bytes) -> bytes:
    """One byte inside the DER of the signature (inside its certificate) inverted."""
    start, end = _sig_hex(signed)
    der = bytearray(bytes.fromhex(signed[start:end].decode()))
    der[300] ^= 0xFF
    return signed[:start] + der.hex().encode() + signed[end:]


def _garbage_contents(signed: bytes) -> bytes:
    start, end = _sig_hex(signed)
    return signed[:start] + b"Z" * (end - start) + signed[end:]


def _not_a_sig(signed: bytes) -> bytes:
    return signed.replace(b"/Type /Sig", b"/Type /Xyz", 1)


MALFORMED = {
    "signer renamed in the certificate": (_renamed_signer, 1, "FAILED"),
    "a byte of the certificate flipped": (_flipped_der, 1, "FAILED"),
    "garbage in the signature value": (_garbage_contents, 1, "FAILED"),
    "signature dictionary of another type": (_not_a_sig, 1, "FAILED"),
    "truncated in the middle": (lambda s: s[: len(s) // 2], 1, "FAILED"),
    "truncated before the end": (lambda s: s[:-200], 1, "FAILED"),
    "PDF header then garbage": (lambda s: b"%PDF-1.7\n" + bytes(range(256)) * 4, 1, "FAILED"),
    "not a PDF at all": (lambda s: b"PK\x03\x04 a zip, not a PDF", 2, "not a PDF"),
    "empty file": (lambda s: b"", 2, "not a PDF"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_malformed_pdfs_get_a_verdict_not_a_traceback(signed: bytes, tmp_path: Path, case: str, as_json: bool,
                                                      capsys) -> None:
    """Every malformed input ends in a one-line verdict (exit 1) or bad input (exit 2); --json is always JSON."""
    make, code, word = MALFORMED[case]
    path = tmp_path / "x.pdf"
    path.write_bytes(make(signed))
    args = ["pdf", "verify", str(path)] + (["--json"] if as_json else [])
    got = main(args)
    captured = capsys.readouterr()
    everything = captured.out + captured.err
    assert got == code, everything
    assert "Traceback" not in everything and "Error:" not in everything, everything
    if as_json:
        doc = json.loads(captured.out)  # one valid JSON document, whatever went wrong
        assert doc["ok"] is False and word in doc["verdict"], doc
    else:
        assert word in everything, everything
        assert len(captured.err.strip().splitlines()) <= 1, captured.err  # one line, if any


def test_a_folder_or_unreadable_file_is_bad_input(tmp_path: Path, capsys) -> None:
    assert main(["pdf", "verify", str(tmp_path), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is False and "Traceback" not in captured.err
