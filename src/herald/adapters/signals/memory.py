"""Signals within one process, for ``herald dev`` (``HERALD_REDIS_URL=memory://``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

# A listener this far behind has missed nothing it cannot read again: it is told so
# (None), and its backlog dropped, rather than holding memory without bound.
_BACKLOG = 10_000


class MemorySignals:
    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue[str | None]]] = {}

    async def publish(self, channel: str, message: str) -> None:
        for queue in self._listeners.get(channel, ()):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)

    async def listen(self, channel: str) -> AsyncIterator[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(_BACKLOG)
        self._listeners.setdefault(channel, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._listeners[channel].discard(queue)

    async def close(self) -> None:
        return None
