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
from governance.cli import main
from governance.config import Workspace, load_settings
from governance.reports.keys import (
    DEMO_SIGNER_ROLE,
    ensure_demo_keys,
    generate_self_signed,
    key_paths,
    load_signer,
)
from governance.reports.sign import sign_pdf, verify_pdf
from tests.governance.report_world import OFFICER


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


def test_demo_keys_are_created_once_and_name_the_role(demo_copy: Workspace) -> None:
    settings = load_settings(demo_copy)
    key, cert = key_paths(demo_copy, settings)
    before = cert.read_bytes()  # the demo generator already called ensure_demo_keys
    again = ensure_demo_keys(demo_copy, settings)
    assert not again.created and cert.read_bytes() == before
    key.unlink()
    cert.unlink()
    fresh = ensure_demo_keys(demo_copy, settings)
    assert fresh.created and key.stat().st_mode & 0o077 == 0
    c = load_cert(cert)
    from cryptography.x509.oid import NameOID

    assert c.subject.get_attributes_for_oid(NameOID.TITLE)[0].value == DEMO_SIGNER_ROLE


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
    """The documented route for an organisation's certificate: a .p12 named in [signing], passphrase in the env."""
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
    code = main(["report", "--workspace", str(demo_copy.root), "--actor", OFFICER, "--version",
                 "lab-prod:claims-fraud:2", "--template", "pra-ss1-23", "--out", str(out), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["signer"] == "Ada Validator" and doc["signer_role"] == "Head of Model Validation"
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
    """[signing] certificate = the signer's PEM followed by its CA; examiners trust the CA, not the signer."""
    ca_key = serialization.load_pem_private_key(keys["key"].read_bytes(), password=None)
    ca_cert = load_cert(keys["cert"])  # self-signed with CA=true: stands in for the organisation's CA
    key, cert = _issue(ca_key, ca_cert, "Grace Officer", "Chief Risk Officer")
    (demo_copy.keys_dir / "signing-key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (demo_copy.keys_dir / "signing-cert.pem").write_bytes(
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
