"""A TCP proxy on loopback that a test can cut and restore: the network between a
service and its broker or database, under the test's control."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.cut = False

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self.disconnect()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def disconnect(self) -> None:
        """Cut: drop every open connection and refuse new ones until restored."""
        self.cut = True
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def restore(self) -> None:
        self.cut = False

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(*self.target)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await self._upstream()
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)


class TcpBalancer(TcpProxy):
    """One address in front of several replicas, as a Kubernetes Service or a load
    balancer is: each connection to the next replica in turn, and to the one after it
    when that one does not answer (a replica killed)."""

    def __init__(self, targets: list[tuple[str, int]]) -> None:
        super().__init__(*targets[0])
        self.targets = targets
        self._next = 0

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        failure: OSError | None = None
        # This connection's own turn: others start theirs while it waits to connect.
        first, self._next = self._next, self._next + 1
        for i in range(len(self.targets)):
            target = self.targets[(first + i) % len(self.targets)]
            try:
                return await asyncio.open_connection(*target)
            except OSError as exc:
                failure = exc
        assert failure is not None
        raise failure
