"""Herald's webhook HTTP client on the wire, against servers scripted byte by byte on
loopback: the answers real servers give (lengths, chunks, interim answers, closes),
kept connections, hostile answers, timeouts and TLS."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from herald.adapters.webhooks.http import MAX_BODY, HttpWebhookTransport
from tests.smtp import self_signed

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """Answers each request as ``script`` says; records the requests' heads."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.heads: list[bytes] = []
        self.connections = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        length = next(
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        return await reader.readexactly(length)


def answering(*answers: bytes, then_close: bool = False) -> Callable[[Server], Script]:
    """A script: each request on a connection gets the next answer."""

    def script(server: Server) -> Script:
        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for answer in answers:
                await server.read(reader)
                writer.write(answer)
                await writer.drain()
            if not then_close:
                await reader.read()  # keep the connection until the client goes

        return run

    return script


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[HttpWebhookTransport]:
    t = HttpWebhookTransport(timeout=2, allow_private=True)
    yield t
    await t.close()


async def serve(make: Callable[[Server], Script]) -> tuple[Server, str]:
    server = Server(lambda r, w: asyncio.sleep(0))
    server.script = make(server)
    port = await server.start()
    return server, f"http://127.0.0.1:{port}/hook?x=1"


NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


async def test_one_write_per_request_and_the_connection_is_kept(
    transport: HttpWebhookTransport,
) -> None:
    server, url = await serve(
        answering(NO_CONTENT, NO_CONTENT, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    )
    for _ in range(3):
        answer = await transport.post(url, {"webhook-id": "msg_1"}, b'{"a":1}')
        assert answer.error is None and answer.status in (200, 204)
    assert server.connections == 1
    head = server.heads[0].decode()
    assert head.startswith("POST /hook?x=1 HTTP/1.1\r\n")
    assert "webhook-id: msg_1" in head and "content-length: 7" in head
    assert f"host: 127.0.0.1:{url.split(':')[2].split('/')[0]}" in head


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nthe body ends with the connection",
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
    ],
)
async def test_answers_real_servers_give_are_read(
    transport: HttpWebhookTransport, answer: bytes
) -> None:
    closes = b"HTTP/1.0" in answer or b"close" in answer
    _, url = await serve(answering(answer, then_close=closes))
    result = await transport.post(url, {}, b"{}")
    assert result.error is None and 200 <= (result.status or 0) < 300, result


async def test_a_kept_connection_the_server_closed_is_replaced(
    transport: HttpWebhookTransport,
) -> None:
    server, url = await serve(answering(NO_CONTENT, then_close=True))
    first = await transport.post(url, {}, b"{}")
    await asyncio.sleep(0.1)  # the server has closed it by now
    second = await transport.post(url, {}, b"{}")
    assert first.status == second.status == 204
    assert server.connections == 2


async def test_hostile_answers_fail_the_attempt_without_reading_them_through(
    transport: HttpWebhookTransport,
) -> None:
    huge = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (MAX_BODY * 100)
    server, url = await serve(answering(huge, huge))
    assert (await transport.post(url, {}, b"{}")).status == 200
    assert (await transport.post(url, {}, b"{}")).status == 200
    assert server.connections == 2  # the body was not read, so its connection was not kept
    for garbage in (b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 2xx Odd\r\n\r\n"):
        _, url = await serve(answering(garbage))
        answer = await transport.post(url, {}, b"{}")
        assert answer.status is None and "unreadable answer" in (answer.error or ""), answer
    _, url = await serve(answering(b"HTTP/1.1 200 OK\r\n" + b"x: y\r\n" * 10_000 + b"\r\n"))
    answer = await transport.post(url, {}, b"{}")
    assert answer.status is None and answer.error


async def test_statuses_say_what_failed(transport: HttpWebhookTransport) -> None:
    for status, words in ((500, "answered 500"), (301, "redirects are not followed")):
        _, url = await serve(answering(b"HTTP/1.1 %d X\r\ncontent-length: 0\r\n\r\n" % status))
        answer = await transport.post(url, {}, b"{}")
        assert answer.status == status and words in (answer.error or "")


async def test_silence_is_a_timeout_and_a_closed_port_is_unreachable() -> None:
    async def silent(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        await reader.read()

    server = Server(silent)
    port = await server.start()
    transport = HttpWebhookTransport(timeout=0.3, allow_private=True)
    try:
        answer = await transport.post(f"http://127.0.0.1:{port}/", {}, b"{}")
        assert answer.status is None and "timeout" in (answer.error or "")
        server.server.close()
        await server.server.wait_closed()
        answer = await transport.post(f"http://127.0.0.1:{port}/", {}, b"{}")
        assert answer.status is None and "unreachable" in (answer.error or "")
        assert not answer.permanent
    finally:
        await transport.close()


async def test_https_is_checked_against_the_trusted_certificates() -> None:
    server_context, certificate = self_signed()
    server = Server(lambda r, w: asyncio.sleep(0), tls=server_context)
    server.script = answering(NO_CONTENT)(server)
    port = await server.start()
    url = f"https://127.0.0.1:{port}/hook"
    trusting = ssl.create_default_context(cafile=str(certificate))
    transport = HttpWebhookTransport(timeout=2, allow_private=True, ssl_context=trusting)
    stranger = HttpWebhookTransport(timeout=2, allow_private=True)
    try:
        assert (await transport.post(url, {}, b"{}")).status == 204
        refused = await stranger.post(url, {}, b"{}")
        assert refused.status is None and "TLS" in (refused.error or ""), refused
    finally:
        await transport.close()
        await stranger.close()


async def test_private_addresses_are_refused_before_any_connection() -> None:
    transport = HttpWebhookTransport(timeout=1, allow_private=False)
    try:
        for url in ("https://127.0.0.1:1/", "https://10.0.0.1/", "http://example.com/"):
            answer = await transport.post(url, {}, b"{}")
            assert answer.permanent and answer.status is None, (url, answer)
    finally:
        await transport.close()
