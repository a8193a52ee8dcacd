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
    OutcomeUnknown,
    SessionLost,
    SessionOptions,
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
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        timeout: float = 10.0,
        data_timeout: float = 600.0,
        ehlo_name: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("HERALD_SMTP_URL must start with smtp:// or smtps://")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.target = f"{self.host}:{self.port}"
        context = ssl.create_default_context()
        if not _flag(query, "verify", default=True):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self._options = SessionOptions(
            context=context,
            implicit_tls=parts.scheme == "smtps",
            starttls=_flag(query, "starttls"),
            login=(
                (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
            ),
            seconds=timeout,
            data_seconds=data_timeout,
            insecure_auth=_flag(query, "insecure_auth"),
            ehlo_name=ehlo_name,
        )
        self._idle: list[SmtpSession] = []
        self._slots = asyncio.Semaphore(pool_size)

    async def _open(self) -> SmtpSession:
        return await SmtpSession.open(self.host, self.port, self._options)

    async def send(self, mail: OutgoingEmail) -> str | None:
        async with self._slots:
            session = self._checkout()
            try:
                answer = None
                if session is not None:
                    try:
                        answer = await session.send(mail.sender, mail.recipients, mail.data)
                    except SessionLost:
                        # A reused session the server had closed meanwhile, before any
                        # of the message went: once more, on a new one.
                        session.abort()
                        session = None
                if session is None:
                    session = await self._open()
                    answer = await session.send(mail.sender, mail.recipients, mail.data)
            except SmtpReplyError as exc:
                if session is None:
                    # Refused while opening (greeting, EHLO, STARTTLS, AUTH): the relay
                    # or Herald's settings are at fault, not this message. A failure of
                    # the transport, for the breaker, never for the dead letter queue.
                    raise DeliveryError(
                        f"SMTP relay refused the session: {_text(exc)}", permanent=False
                    )
                await self._keep_after_refusal(session)
                raise _refused(exc)
            except OutcomeUnknown as exc:
                if session is not None:
                    session.abort()
                # Retried all the same (a lost notification is worse than a second copy),
                # and the history says so.
                raise DeliveryError(f"outcome unknown: {exc}", permanent=False)
            except _BROKEN as exc:
                if session is not None:
                    session.abort()
                what = "session failed" if isinstance(exc, SmtpProtocolError) else "unreachable"
                raise DeliveryError(f"SMTP {what}: {exc or type(exc).__name__}", permanent=False)
            self._idle.append(session)
            return answer

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


def _flag(query: dict[str, str], name: str, *, default: bool = False) -> bool:
    value = query.get(name)
    if value is None:
        return default
    return value in ("true", "1", "yes")


def _text(exc: SmtpReplyError) -> str:
    return f"{exc.reply.code} {exc.reply.text.replace(chr(10), ' ')}"


def _refused(exc: SmtpReplyError) -> DeliveryError:
    what = "recipient refused:" if exc.refused else "SMTP"
    return DeliveryError(f"{what} {_text(exc)}", permanent=exc.reply.code >= 500)
