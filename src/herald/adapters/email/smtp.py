"""SMTP delivery over a small pool of reused sessions (``smtp_session``, with PIPELINING).

Replies are classified as RFC 5321 §4.2.1 says: 4yz is transient (try again later),
5yz is permanent. A refused connection, a timeout or a dropped connection is
transient.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import parse_qs, unquote, urlsplit

from herald.adapters.email.smtp_session import (
    SessionLost,
    SmtpProtocolError,
    SmtpReplyError,
    SmtpSession,
)
from herald.domain.errors import DeliveryError
from herald.ports import OutgoingEmail

# What a session that cannot go on raises: the connection broke, timed out or spoke
# something other than SMTP.
_BROKEN = (TimeoutError, SmtpProtocolError, OSError)


class SmtpTransport:
    def __init__(self, url: str, *, pool_size: int = 4, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("HERALD_SMTP_URL must start with smtp:// or smtps://")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.target = f"{self.host}:{self.port}"
        self._login = (
            (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        )
        self._tls = parts.scheme == "smtps"
        self._starttls = query.get("starttls") in ("true", "1", "yes")
        context = ssl.create_default_context()
        if query.get("verify") in ("false", "0", "no"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self._context = context
        self._timeout = timeout
        self._idle: list[SmtpSession] = []
        self._slots = asyncio.Semaphore(pool_size)

    async def _open(self) -> SmtpSession:
        return await SmtpSession.open(
            self.host,
            self.port,
            seconds=self._timeout,
            context=self._context,
            implicit_tls=self._tls,
            starttls=self._starttls,
            login=self._login,
        )

    async def send(self, mail: OutgoingEmail) -> None:
        async with self._slots:
            session = self._checkout()
            try:
                if session is not None:
                    try:
                        await session.send(mail.sender, mail.recipients, mail.data)
                    except SessionLost:
                        # A reused session the server had closed meanwhile, before any
                        # of the message went: once more, on a new one.
                        session.abort()
                        session = None
                if session is None:
                    session = await self._open()
                    await session.send(mail.sender, mail.recipients, mail.data)
            except SmtpReplyError as exc:
                if session is not None:  # None: refused while opening (EHLO, AUTH...)
                    await self._keep_after_refusal(session)
                raise _refused(exc)
            except _BROKEN as exc:
                if session is not None:
                    session.abort()
                raise DeliveryError(f"SMTP server unreachable: {exc}", permanent=False)
            self._idle.append(session)

    def _checkout(self) -> SmtpSession | None:
        while self._idle:
            session = self._idle.pop()
            if session.usable:
                return session
            session.abort()
        return None

    async def _keep_after_refusal(self, session: SmtpSession) -> None:
        """After a refused message the session can still carry the next one, once reset."""
        try:
            await session.reset()
        except (SmtpReplyError, *_BROKEN):
            session.abort()
            return
        self._idle.append(session)

    async def close(self) -> None:
        while self._idle:
            session = self._idle.pop()
            with contextlib.suppress(Exception):
                await session.quit()


def _refused(exc: SmtpReplyError) -> DeliveryError:
    code, text = exc.reply.code, exc.reply.text.replace("\n", " ")
    what = "recipient refused:" if exc.refused else "SMTP"
    return DeliveryError(f"{what} {code} {text}", permanent=code >= 500)
