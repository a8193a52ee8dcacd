"""A lean SMTP sink for the benchmark, run in a process of its own:

    python -m bench.sink PORT

It accepts every message and prints one line per message to stdout,
``<X-Herald-Notification-Id or -> <time.monotonic()>``, after a first line ``ready``.
It parses nothing but the command lines and that one header, so that the machine's CPU
goes to Herald and not to the sink (CLOCK_MONOTONIC is shared by all processes, so the
times compare with the load generator's).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time

_ID = re.compile(rb"^X-Herald-Notification-Id:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)
_EHLO = b"250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"
_END = b"\r\n.\r\n"


class SinkProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 bench-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = bytearray()
        while self.buffer:
            if self.in_data:
                end = self.buffer.find(_END)
                if end < 0:
                    break
                record(bytes(self.buffer[2:end]))
                del self.buffer[: end + len(_END)]
                self.in_data = False
                replies += b"250 OK queued\r\n"
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            verb = bytes(self.buffer[:4]).upper()
            del self.buffer[: end + 2]
            if verb in (b"EHLO", b"HELO"):
                replies += _EHLO
            elif verb == b"DATA":
                replies += b"354 End data with <CR><LF>.<CR><LF>\r\n"
                # The body is read up to CRLF.CRLF; this CRLF makes an empty one match.
                self.buffer[:0] = b"\r\n"
                self.in_data = True
            elif verb == b"QUIT":
                replies += b"221 Bye\r\n"
                assert self.transport is not None
                self.transport.write(bytes(replies))
                self.transport.close()
                return
            else:  # MAIL, RCPT, RSET, NOOP
                replies += b"250 OK\r\n"
        if replies and self.transport is not None:
            self.transport.write(bytes(replies))


def record(message: bytes) -> None:
    found = _ID.search(message)
    name = found.group(1).decode() if found else "-"
    sys.stdout.write(f"{name} {time.monotonic()}\n")
    sys.stdout.flush()


class SinkProcess:
    """The sink in a child process, seen from the benchmark: ``arrivals`` maps each
    notification id to the time its first message arrived; ``count`` counts them all."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def clear(self) -> None:
        self.arrivals.clear()
        self.count = 0

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.sink", str(self.port), stdout=asyncio.subprocess.PIPE
        )
        assert self._process.stdout is not None
        first = await asyncio.wait_for(self._process.stdout.readline(), 30)
        if first.strip() != b"ready":
            raise RuntimeError(f"the SMTP sink did not start: {first!r}")
        self._reader = asyncio.create_task(self._read(self._process.stdout))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            name, _, at = line.decode().partition(" ")
            self.count += 1
            if name != "-":
                self.arrivals.setdefault(name, float(at))

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        if self._reader is not None:
            await self._reader


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(SinkProtocol, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
