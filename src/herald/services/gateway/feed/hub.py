"""One listener per gateway process for feed signals, waking the streams open here:
a replica learns of an item another process stored without a connection per stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from herald.domain.errors import HeraldError
from herald.kit.aio import Background
from herald.ports import Signals
from herald.services.gateway.feed.store import CHANNEL

log = structlog.get_logger(__name__)


class FeedHub:
    def __init__(self, signals: Signals, *, max_streams: int) -> None:
        self._signals = signals
        self._max = max_streams
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._open = 0
        self._listener = Background()
        # Set when the process stops: every stream ends, and its client reconnects.
        self.draining = False

    async def start(self) -> None:
        self._listener.start(self._listen())

    async def stop(self) -> None:
        await self._listener.stop(grace=5.0)

    def drain(self) -> None:
        self.draining = True
        self._wake(None)

    async def publish(self, user_id: str) -> None:
        await self._signals.publish(CHANNEL, user_id)

    def make_room(self) -> None:
        """Refuse a stream (503) when this process holds as many as it may."""
        if self._open >= self._max:
            raise HeraldError.unavailable(
                f"this gateway has {self._open} feed streams open, its limit; reconnect in a moment"
            )

    @contextmanager
    def watch(self, user_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``user_id``'s feed may have changed (and when signals
        may have been missed), for as long as the block runs."""
        woken = asyncio.Event()
        self._open += 1
        self._waiting.setdefault(user_id, set()).add(woken)
        try:
            yield woken
        finally:
            self._open -= 1
            mine = self._waiting[user_id]
            mine.discard(woken)
            if not mine:
                del self._waiting[user_id]

    async def _listen(self) -> None:
        while True:
            try:
                async for user_id in self._signals.listen(CHANNEL):
                    self._wake(user_id)
            except Exception:  # the listener starts again; the streams look again
                log.exception("feed.hub.listener_failed")
                await asyncio.sleep(1.0)
                self._wake(None)

    def _wake(self, user_id: str | None) -> None:
        if user_id is not None:
            for woken in self._waiting.get(user_id, ()):
                woken.set()
            return
        # Signals may have been missed: every stream looks again.
        log.info("feed.hub.resync", streams=self._open)
        for events in self._waiting.values():
            for woken in events:
                woken.set()
