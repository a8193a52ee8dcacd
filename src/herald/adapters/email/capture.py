"""A real SMTP server (aiosmtpd) that keeps every mail in the capture store: what
``herald dev`` sends to, so mail goes over real SMTP without leaving the machine."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from herald.adapters.capture import CaptureStore


class _Handler:
    def __init__(self, store: CaptureStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=policy.default)
        self.store.add(
            channel="email",
            recipient=", ".join(envelope.rcpt_tos),
            subject=str(parsed.get("Subject", "")),
            raw=raw,
            meta={"from": envelope.mail_from},
        )
        return "250 Message captured"


def usable_port(host: str, port: int) -> int:
    """``port`` (0: any free one), checked the way the server will bind it. With
    SO_REUSEADDR, as asyncio binds, a port left in TIME_WAIT by a quick restart is
    usable; one another server holds is an error that says so, never a silent move
    to a port nobody was told of."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise OSError(
                f"the SMTP capture cannot listen on {host}:{port} ({exc.strerror}): stop what "
                "holds it, or set HERALD_DEV_SMTP_PORT (0 for any free port)"
            ) from exc
        return int(s.getsockname()[1])


class CaptureSmtpServer:
    def __init__(self, store: CaptureStore, *, host: str = "127.0.0.1", port: int = 1025) -> None:
        self.host = host
        self.port = usable_port(host, port)
        self._controller = Controller(
            _Handler(store), hostname=host, port=self.port, data_size_limit=10 * 1024 * 1024
        )

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self, *_: Any) -> None:
        self._controller.stop()
