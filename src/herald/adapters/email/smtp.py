"""SMTP delivery over a small pool of reused connections (aiosmtplib).

Replies are classified as RFC 5321 §4.2.1 says: 4yz is transient (try again later),
5yz is permanent. A refused connection, a timeout or a dropped connection is
transient.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from herald.domain.errors import DeliveryError
from herald.ports import OutgoingEmail


class SmtpTransport:
    def __init__(self, url: str, *, pool_size: int = 4, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("HERALD_SMTP_URL must start with smtp:// or smtps://")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self.target = f"{self.host}:{self.port}"
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._tls = parts.scheme == "smtps"
        self._starttls = query.get("starttls") in ("true", "1", "yes")
        context = ssl.create_default_context()
        if query.get("verify") in ("false", "0", "no"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self._context = context
        self._timeout = timeout
        self._size = pool_size
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._slots = asyncio.Semaphore(pool_size)

    async def _open(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self._tls,
            start_tls=self._starttls,
            tls_context=self._context,
            timeout=self._timeout,
        )
        await client.connect()
        if self._user is not None:
            await client.login(self._user, self._password or "")
        return client

    async def _checkout(self) -> aiosmtplib.SMTP:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                return client
        return await self._open()

    async def send(self, mail: OutgoingEmail) -> None:
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = await self._checkout()
                await client.sendmail(mail.sender, list(mail.recipients), mail.data)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                codes = [r.code for r in exc.recipients]
                await self._discard_on_error(client, keep=True)
                refused = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
                raise DeliveryError(
                    f"recipient refused: {refused}", permanent=all(c >= 500 for c in codes)
                )
            except aiosmtplib.SMTPResponseException as exc:
                await self._discard_on_error(client, keep=True)
                raise DeliveryError(f"SMTP {exc.code} {exc.message}", permanent=exc.code >= 500)
            except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
                await self._discard_on_error(client, keep=False)
                raise DeliveryError(f"SMTP server unreachable: {exc}", permanent=False)
            self._idle.put_nowait(client)

    async def _discard_on_error(self, client: aiosmtplib.SMTP | None, *, keep: bool) -> None:
        """After a refused message the connection may still be usable; reset it or drop it."""
        if client is None:
            return
        if keep and client.is_connected:
            try:
                await client.rset()
                self._idle.put_nowait(client)
                return
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                pass
        with contextlib.suppress(Exception):
            client.close()

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                await client.quit()
