"""The load generator's HTTP client: keep-alive HTTP/1.1 on plain asyncio streams.

A general-purpose client spends more CPU per request than the server it measures; on a
two-core machine that shared CPU would be taken from Herald. This one writes a request
and reads a ``Content-Length`` answer, nothing more, and is used for both Herald and
the bare ASGI ceiling so that their ratio stays fair.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Poster(Protocol):
    """What a load phase posts through: one client, or several taking turns."""

    async def post(self, path: str, payload: Any) -> Answer: ...


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LoadClient:
    def __init__(
        self, host: str, port: int, *, headers: dict[str, str] | None = None, connections: int = 256
    ) -> None:
        self._host, self._port = host, port
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = f"Host: {host}:{port}\r\nContent-Type: application/json\r\n{extra}"
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    @classmethod
    def for_url(cls, url: str, **kwargs: Any) -> LoadClient:
        host, _, port = url.removeprefix("http://").rstrip("/").rpartition(":")
        return cls(host, int(port), **kwargs)

    async def post(self, path: str, payload: Any) -> Answer:
        body = json.dumps(payload).encode()
        request = (
            f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        async with self._slots:
            if self._idle:
                try:
                    return await self._exchange(self._idle.pop(), request)
                except _Unanswered:
                    pass  # the server closed it while it was idle: once more, on a new one
            connection = await asyncio.open_connection(self._host, self._port)
            return await self._exchange(connection, request)

    async def _exchange(self, connection: _Connection, request: bytes) -> Answer:
        reader, writer = connection
        try:
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    raise
                raise _Unanswered from exc
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise _Unanswered from exc
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(fields.get("content-length", "0")))
        except BaseException:
            writer.close()
            raise
        if fields.get("connection", "").lower() == "close":
            writer.close()
        else:
            self._idle.append(connection)
        return Answer(status, body)

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


class _Unanswered(ConnectionError):
    """The connection closed before any byte of an answer."""
