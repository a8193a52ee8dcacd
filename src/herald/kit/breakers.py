"""Which breakers are open, across processes: each worker writes the breakers it has
open (or half-open) to the cache every few seconds, under its channel, and the console
reads them. A worker that stops writing drops out once its entry is ``FRESH`` seconds
old, so a crashed worker's breakers do not stay on the screen.

Two workers writing at once may lose one entry until the next write: this is a view
for people, not a control."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

import structlog

from herald.domain.breaker import BreakerBoard, BreakerState
from herald.kit.aio import Background
from herald.ports import Cache

log = structlog.get_logger(__name__)
EVERY = 5.0
FRESH = 3 * EVERY


def _key(channel: str) -> str:
    return f"breakers:{channel}"


async def _read(cache: Cache, channel: str, now: float) -> dict[str, Any]:
    raw = await cache.get(_key(channel))
    try:
        entries = json.loads(raw) if raw else {}
    except ValueError:
        entries = {}
    if not isinstance(entries, dict):
        return {}
    return {
        k: v
        for k, v in entries.items()
        if isinstance(v, dict) and now - float(v.get("at", 0)) < FRESH
    }


class BreakerReport:
    def __init__(self, cache: Cache, channel: str, board: BreakerBoard) -> None:
        self._cache = cache
        self._channel = channel
        self._board = board
        self._instance = uuid.uuid4().hex[:12]
        self._loop = Background()
        self._reported = False

    async def publish(self) -> None:
        not_closed = {
            t: s.value for t, s in self._board.states().items() if s is not BreakerState.CLOSED
        }
        if not not_closed and not self._reported:
            return  # nothing to say, and nothing said before to take back
        now = time.time()
        entries = await _read(self._cache, self._channel, now)
        entries.pop(self._instance, None)
        if not_closed:
            entries[self._instance] = {"at": now, "open": not_closed}
        await self._cache.set(_key(self._channel), json.dumps(entries).encode(), ttl=FRESH * 4)
        self._reported = bool(not_closed)

    async def _run(self) -> None:
        while True:
            try:
                await self.publish()
            except Exception as exc:  # a view for people must never stop a worker
                log.warning("breakers.report_failed", error=str(exc))
            await asyncio.sleep(EVERY)

    async def start(self) -> None:
        self._loop.start(self._run())

    async def stop(self) -> None:
        await self._loop.stop()


async def open_breakers(cache: Cache, channels: Iterable[str]) -> list[dict[str, str]]:
    """Every breaker a live worker reports not closed: channel, target and state."""
    now = time.time()
    found: dict[tuple[str, str], str] = {}
    for channel in channels:
        for entry in (await _read(cache, channel, now)).values():
            for target, state in dict(entry.get("open", {})).items():
                found[(channel, str(target))] = str(state)
    return [{"channel": c, "target": t, "state": s} for (c, t), s in sorted(found.items())]
