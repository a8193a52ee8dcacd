"""A real SMTP server for tests (aiosmtpd) that can be told to accept, answer 4xx or
5xx, or stop listening, and that counts what it received."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_context() -> ssl.SSLContext:
    """A server TLS context with a certificate made on the spot for 127.0.0.1."""
    return self_signed()[0]


def self_signed() -> tuple[ssl.SSLContext, Path]:
    """``self_signed_context``, and the certificate's file for a client to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp())
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context, folder / "cert.pem"


class _Authenticator:
    def __init__(self, login: tuple[str, str]) -> None:
        self.login = login

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self.login
        )
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self,
        server: Any,
        session: Any,
        envelope: Any,
        address: str,
        rcpt_options: Any,
    ) -> str:
        reply = self.server.reply_for(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        if self.server.pipelining:  # RFC 2920; aiosmtpd reads pipelined commands in order
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.peers.add(session.peer)
        reply = self.server.data_reply
        if reply is not None:
            return reply
        mail = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.server.received.append(mail)
        self.server.received_at.append(time.monotonic())
        return "250 Message accepted"


class SmtpServer:
    """``tls``: None (plain), "starttls" or "implicit"; ``login``: required credentials;
    ``pipelining``: whether EHLO offers PIPELINING."""

    def __init__(
        self,
        *,
        tls: str | None = None,
        login: tuple[str, str] | None = None,
        pipelining: bool = False,
    ) -> None:
        self.port = free_port()
        self.pipelining = pipelining
        self.received: list[EmailMessage] = []
        self.received_at: list[float] = []
        self.data_reply: str | None = None
        self.rcpt_replies: dict[str, str] = {}
        self.delay = 0.0
        self.peers: set[Any] = set()
        self.tls = tls
        self.login = login
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def reply_for(self, address: str) -> str | None:
        return self.rcpt_replies.get(address.lower())

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self.tls is not None:
            context = self_signed_context()
            if self.tls == "implicit":
                options["ssl_context"] = context
            else:
                options |= {"tls_context": context, "require_starttls": True}
        if self.login is not None:
            options |= {
                "authenticator": _Authenticator(self.login),
                # aiosmtpd only sees TLS that began with STARTTLS; implicit TLS
                # encrypts the whole connection anyway.
                "auth_require_tls": self.tls == "starttls",
            }
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="127.0.0.1",
            **options,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def by_header(self, name: str, value: str) -> list[EmailMessage]:
        return [m for m in self.received if m.get(name) == value]

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        # Mail arrives on the server's own thread: poll rather than share an asyncio.Event
        # across event loops (setting one from another thread wakes nobody).
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{len(self.received)} of {count} mails arrived")
            await asyncio.sleep(0.02)
