"""A test PKI served on loopback by certomancer: a root CA, a CA-issued end-entity signer, CRLs and an RFC 3161
time-stamping service (TSA). The independent peer of the signing tests.

:func:`start_pki` writes fresh EC keys, a certomancer configuration whose URLs point at a free port of 127.0.0.1,
and serves certomancer's own WSGI app (``certomancer.integrations.animator``) there with werkzeug on a thread:

- ``{url}/testing/crls/root/latest.crl``: the root's CRL (named in every issued certificate);
- ``{url}/testing/tsa/tsa``: the time-stamping service (its certificate: ``timeStamping`` extended key usage);
- ``{url}/testing/tsa/archive-tsa``: a second TSA, whose certificate stays valid for years (archive timestamps);
- the signer's certificate (keyUsage digitalSignature + nonRepudiation, as NSS/pdfsig want) expires
  ``signer_valid_for`` after now; the first TSA's ``tsa_valid_for`` after now (default: years, like the CA).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ARCH = "testing"
KEYS = ("root", "signer", "tsa", "archive-tsa")


def _key(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _tsa_cert(subject: str, validity: dict, crl: dict) -> dict:
    return {"subject": subject, "issuer": "root", "validity": validity, "extensions": [
        {"id": "key_usage", "critical": True, "smart-value": {"schema": "key-usage", "params": ["digital_signature"]}},
        {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]}, crl]}


def _config(url: str, now: dt.datetime, signer_valid_for: dt.timedelta, tsa_valid_for: dt.timedelta | None) -> dict:
    crl = {"id": "crl_distribution_points", "smart-value": {"schema": "crl-dist-url",
                                                             "params": {"crl-repo-names": ["root"]}}}
    years = {"valid-from": _stamp(now - dt.timedelta(days=365)), "valid-to": _stamp(now + dt.timedelta(days=3650))}
    tsa_validity = years if tsa_valid_for is None else {"valid-from": _stamp(now - dt.timedelta(days=30)),
                                                        "valid-to": _stamp(now + tsa_valid_for)}
    return {
        "external-url-prefix": url,
        "keysets": {"testing": {"path-prefix": "keys", "keys": {n: {"path": f"{n}.key.pem"}
                                                                for n in KEYS}}},
        "pki-architectures": {ARCH: {
            "keyset": "testing",
            "entity-defaults": {"country-name": "BE", "organization-name": "Countersign Test Bank"},
            "entities": {"root": {"common-name": "Countersign Test Root CA"},
                         "signer": {"common-name": "Ada Validator", "email-address": "ada@bank.example",
                                    "title": "Model Validator"},
                         "tsa": {"common-name": "Countersign Test TSA"},
                         "archive-tsa": {"common-name": "Countersign Archive TSA"}},
            "certs": {
                "root": {"subject": "root", "issuer": "root", "validity": years,
                         "profiles": [{"id": "simple-ca", "params": {"crl-repo": "root"}}]},
                "signer": {"subject": "signer", "issuer": "root",
                           "validity": {"valid-from": _stamp(now - dt.timedelta(days=30)),
                                        "valid-to": _stamp(now + signer_valid_for)},
                           "profiles": ["digsig-commitment"], "extensions": [crl]},
                "tsa": _tsa_cert("tsa", tsa_validity, crl),
                "archive-tsa": _tsa_cert("archive-tsa", years, crl),
            },
            "services": {"crl-repo": {"root": {"for-issuer": "root", "signing-key": "root",
                                               "simulated-update-schedule": "P30D"}},
                         "time-stamping": {"tsa": {"signing-key": "tsa", "signing-cert": "tsa"},
                                           "archive-tsa": {"signing-key": "archive-tsa",
                                                           "signing-cert": "archive-tsa"}}},
        }},
    }


@dataclass
class TestPKI:
    """A running test PKI: its URL, the TSA's URL and the PEM files of the CA, the signer (key + cert) and TSA."""

    __test__ = False  # not a test class, whatever its name

    url: str
    folder: Path
    root_cert: Path
    signer_key: Path
    signer_cert: Path
    tsa_cert: Path
    signer_expires: dt.datetime
    _server: object
    _thread: threading.Thread
    tsa_expires: dt.datetime | None = None  # the first TSA's certificate's end, when start_pki was given one

    @property
    def tsa_url(self) -> str:
        return f"{self.url}/{ARCH}/tsa/tsa"

    @property
    def archive_tsa_url(self) -> str:
        """A second TSA whose certificate stays valid for years (the one that renews archive timestamps)."""
        return f"{self.url}/{ARCH}/tsa/archive-tsa"

    @property
    def crl_url(self) -> str:
        return f"{self.url}/{ARCH}/crls/root/latest.crl"

    def stop(self) -> None:
        self._server.shutdown()  # type: ignore[attr-defined]
        self._thread.join(timeout=5)


class _Later:
    """A WSGI app set after the socket is bound (the certificates must name the port)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)  # type: ignore[misc]


def start_pki(folder: Path, *, signer_valid_for: dt.timedelta = dt.timedelta(days=1),
              tsa_valid_for: dt.timedelta | None = None) -> TestPKI:
    """Write keys and configuration into ``folder`` and serve the PKI on a free port of 127.0.0.1."""
    import logging

    from certomancer.integrations.animator import Animator, AnimatorArchStore
    from certomancer.registry import CertLabel, CertomancerConfig
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per CRL and TSA request otherwise
    (folder / "keys").mkdir(parents=True, exist_ok=True)
    for name in KEYS:
        _key(folder / "keys" / f"{name}.key.pem")
    later = _Later()
    server = make_server("127.0.0.1", 0, later, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    config = _config(url, now, signer_valid_for, tsa_valid_for)
    (folder / "certomancer.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    cfg = CertomancerConfig(config, key_search_dir=str(folder))
    later.app = Animator(AnimatorArchStore(cfg.pki_archs), with_web_ui=False)
    arch = cfg.get_pki_arch(ARCH) if hasattr(cfg, "get_pki_arch") else cfg.pki_archs[ARCH]
    paths = {}
    for label in ("root", "signer", "tsa"):
        cert = arch.get_cert(CertLabel(label))
        paths[label] = folder / f"{label}.cert.pem"
        paths[label].write_text("-----BEGIN CERTIFICATE-----\n" + _b64(cert.dump()) + "-----END CERTIFICATE-----\n")
    thread = threading.Thread(target=server.serve_forever, name="test-pki", daemon=True)
    thread.start()
    return TestPKI(url, folder, paths["root"], folder / "keys" / "signer.key.pem", paths["signer"], paths["tsa"],
                   (now + signer_valid_for).replace(tzinfo=None), server, thread,
                   (now + tsa_valid_for).replace(tzinfo=None) if tsa_valid_for else None)


def _b64(data: bytes) -> str:
    import base64
    import textwrap

    return "\n".join(textwrap.wrap(base64.b64encode(data).decode(), 64)) + "\n"
