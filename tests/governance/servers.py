"""Real local peers for notification tests: an SMTP server (aiosmtpd, optional STARTTLS and login) and an HTTP
receiver (http.server), each on a free loopback port."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class FreePortController(Controller):
    """aiosmtpd's Controller bound to port 0: learns the port the OS chose before its readiness probe."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class Inbox:
    """What the SMTP server received: (envelope sender, recipients, subject and body text)."""

    messages: list[tuple[str, list[str], str]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550
    logins: list[str] = field(default_factory=list)

    def to(self, address: str) -> list[str]:
        return [text for _, rcpts, text in self.messages if address in rcpts]

    def texts(self) -> list[str]:
        return [text for _, _, text in self.messages]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # subject and decoded body (on the wire long lines are quoted-printable)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), f"{msg['Subject']}\n{msg.get_content()}"))
        return "250 Message accepted for delivery"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN) and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def start_smtp(inbox: Inbox, *, tls: tuple[Path, Path] | None = None,
               credentials: tuple[str, str] | None = None) -> FreePortController:
    """An SMTP server on a free port; with ``tls`` it requires STARTTLS, with ``credentials`` a login over it."""
    kwargs: dict[str, Any] = {}
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        kwargs.update(tls_context=context, require_starttls=True)
    if credentials is not None:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode(), auth_data.password.decode()) == credentials
            if ok:
                inbox.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
    controller = FreePortController(inbox, hostname="127.0.0.1", port=0, **kwargs)
    controller.start()
    return controller


@dataclass
class Received:
    """What the HTTP receiver got: (headers, body bytes) per POST."""

    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.posts]


def start_receiver(received: Received) -> tuple[ThreadingHTTPServer, str]:
    """An HTTP server on a free port that records every POST; returns it and its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.posts.append(({k: v for k, v in self.headers.items()}, body))
            self.send_response(received.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"
