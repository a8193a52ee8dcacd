"""Webhooks posted over HTTP/1.1 on asyncio streams.

A webhook is one small POST whose answer matters only by its status, so this client
does only that: one write per request, keep-alive connections pooled per address, the
answer's body read only to reuse the connection (and never past a limit: a hostile
endpoint could send gigabytes). General clients cost far more per request here
(httpx: about 2 ms of CPU each on this project's benchmark machine, against well under
0.1 ms for this), and webhooks are sent by the thousand.

Against server-side request forgery: the name is resolved here, every address it has
is checked, and the connection goes to the address checked, so a name cannot resolve
elsewhere between the check and the connection. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from herald.domain import targets
from herald.ports import WebhookAnswer

# Past this, an answer's body is not read: the connection is closed instead.
MAX_BODY = 64 * 1024
# Resolved names are kept this long (and pinned: the address checked is the one used).
RESOLVE_TTL = 30.0
USER_AGENT = "Herald-Webhooks/1"


class Refused(Exception):
    """The URL may not be called: its name is, or resolves to, a private address."""


class BadAnswer(Exception):
    """What came back is not an HTTP/1.x answer this client can read."""


@dataclass(frozen=True, slots=True)
class Origin:
    https: bool
    host: str  # as named in the URL (SNI and certificate checks use it)
    address: str  # the address resolved and checked
    port: int


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def why_refused(
    url: str, *, allow_private: bool, allowed_hosts: frozenset[str] = frozenset()
) -> str | None:
    """Why ``url`` may not be used as a webhook URL (its form, its host, or where its
    name resolves), or None: what registering an endpoint asks."""
    why = targets.check_webhook(url, allow_private=allow_private, allowed_hosts=allowed_hosts)
    if why is not None or allow_private:
        return why
    parts = urlsplit(url)
    try:
        await _resolve(parts.hostname or "", _port(parts.scheme, parts.port), allow_private)
    except Refused as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot resolve {parts.hostname}: {exc}"
    return None


def _port(scheme: str, port: int | None) -> int:
    return port or (443 if scheme == "https" else 80)


async def _resolve(host: str, port: int, allow_private: bool) -> str:
    """An address of ``host``, once every address it has is allowed."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host.strip("[]")  # a literal: its form was checked already
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_private and any(targets.is_private_address(a) for a in addresses):
        raise Refused(f"webhook URL's host {host} resolves to a private address")
    return addresses[0]


class HttpWebhookTransport:
    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        ssl_context: ssl.SSLContext | None = None,
        idle_per_origin: int = 64,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> None:
        self._timeout = timeout
        self._allow_private = allow_private
        self._allowed_hosts = allowed_hosts
        self._ssl = ssl_context or ssl.create_default_context()
        self._idle_per_origin = idle_per_origin
        self._idle: dict[Origin, list[Connection]] = {}
        self._resolved: dict[tuple[str, int], tuple[float, str]] = {}

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        why = targets.check_webhook(
            url, allow_private=self._allow_private, allowed_hosts=self._allowed_hosts
        )
        if why is not None:
            return WebhookAnswer(None, why, permanent=True)
        parts = urlsplit(url)
        try:
            async with asyncio.timeout(self._timeout):
                origin = await self._origin(parts.scheme, parts.hostname or "", parts.port)
                request = _request(parts.netloc, parts.path, parts.query, headers, body)
                status = await self._exchange(origin, request)
        except Refused as exc:
            return WebhookAnswer(None, str(exc), permanent=True)
        except TimeoutError:
            return WebhookAnswer(None, "no answer within the timeout")
        except ssl.SSLError as exc:
            return WebhookAnswer(None, f"TLS failed: {exc}"[:500])
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            BadAnswer,
            ValueError,
        ) as exc:
            return WebhookAnswer(None, f"unreadable answer: {type(exc).__name__}: {exc}"[:500])
        except OSError as exc:
            return WebhookAnswer(None, f"unreachable: {type(exc).__name__}: {exc}"[:500])
        if 200 <= status < 300:
            return WebhookAnswer(status)
        if 300 <= status < 400:
            return WebhookAnswer(status, f"answered {status}; redirects are not followed")
        return WebhookAnswer(status, f"answered {status}")

    async def _origin(self, scheme: str, host: str, port: int | None) -> Origin:
        number = _port(scheme, port)
        key = (host, number)
        now = time.monotonic()
        kept = self._resolved.get(key)
        if kept is not None and kept[0] > now:
            address = kept[1]
        else:
            address = await _resolve(host, number, self._allow_private)
            if len(self._resolved) > 10_000:
                self._resolved.clear()
            self._resolved[key] = (now + RESOLVE_TTL, address)
        return Origin(scheme == "https", host.strip("[]"), address, number)

    async def _exchange(self, origin: Origin, request: bytes) -> int:
        idle = self._idle.setdefault(origin, [])
        while idle:
            reader, writer = idle.pop()
            if reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            try:
                return await self._send(origin, reader, writer, request)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                # A kept connection the server had closed meanwhile: once more, on a
                # new one, unless part of an answer had come (then it was received).
                writer.close()
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise
        reader, writer = await asyncio.open_connection(
            origin.address,
            origin.port,
            ssl=self._ssl if origin.https else None,
            server_hostname=origin.host if origin.https else None,
        )
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return await self._send(origin, reader, writer, request)

    async def _send(
        self,
        origin: Origin,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: bytes,
    ) -> int:
        try:
            writer.write(request)
            await writer.drain()
            status, reusable = await _answer(reader)
        except BaseException:
            writer.close()
            raise
        idle = self._idle.setdefault(origin, [])
        if reusable and len(idle) < self._idle_per_origin:
            idle.append((reader, writer))
        else:
            writer.close()
        return status

    async def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()


def _request(netloc: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> bytes:
    target = (path or "/") + (f"?{query}" if query else "")
    lines = [
        f"POST {target} HTTP/1.1",
        f"host: {netloc}",
        f"user-agent: {USER_AGENT}",
        f"content-length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of the answer, once read whole; and whether the connection can
    carry another request."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadAnswer(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        status = int(code)
        if 100 <= status < 200 and status != 101:
            continue  # an interim answer (100 Continue): the real one follows
        break
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            fields[name.strip().lower()] = value.strip()
    connection = fields.get("connection", "").lower()
    reusable = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if status in (101, 204, 304):
        return status, reusable and status != 101
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return status, reusable and await _chunks(reader)
    length = fields.get("content-length")
    if length is not None and length.isdigit():
        size = int(length)
        if size > MAX_BODY:
            return status, False  # not read: the connection goes
        await reader.readexactly(size)
        return status, reusable
    # No length: the body ends when the server closes the connection.
    await reader.read(MAX_BODY)
    return status, False


async def _chunks(reader: asyncio.StreamReader) -> bool:
    """Read a chunked body through; False (the connection is not reused) past
    ``MAX_BODY``."""
    total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return True
        total += size
        if total > MAX_BODY:
            return False
        await reader.readexactly(size + 2)
