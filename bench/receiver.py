"""A lean webhook receiver for the benchmark: raw asyncio HTTP/1.1 with keep-alive,
answering 204 to every request and counting those that carry a ``webhook-id``
(the count is printed on SIGTERM, and served at ``GET /count``). Fast enough that the
sender, not the receiver, sets the pace.

    python -m bench.receiver PORT
"""

from __future__ import annotations

import asyncio
import signal
import sys

NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


class Receiver(asyncio.Protocol):
    hooks = 0
    ids: set[bytes] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length, hook = 0, None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    length = int(value)
                elif name == b"webhook-id":
                    hook = value.strip()
            if len(self.buffer) < end + 4 + length:
                return  # the body is still on its way: counted once it is all here
            self.buffer = self.buffer[end + 4 + length :]
            if hook is not None:
                Receiver.ids.add(hook)
                Receiver.hooks += 1
            if head.startswith(b"get /count"):
                body = f"{Receiver.hooks} {len(Receiver.ids)}".encode()
                answer = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                self.transport.write(answer)  # type: ignore[attr-defined]
            else:
                self.transport.write(NO_CONTENT)  # type: ignore[attr-defined]


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
