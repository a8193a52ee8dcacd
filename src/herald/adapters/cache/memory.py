"""In-memory cache for ``herald dev`` (``HERALD_REDIS_URL=memory://``)."""

from __future__ import annotations

import time
from collections.abc import Sequence


class MemoryCache:
    """Bounded by entries and by the bytes of their values, oldest dropped first."""

    def __init__(self, *, max_entries: int = 100_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._data: dict[str, tuple[float, bytes]] = {}
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0

    async def get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            self._drop(key)
            return None
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get(k) for k in keys]

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        if len(value) > self._max_bytes:
            return
        self._drop(key)
        # Dicts keep insertion order: dropping the oldest entry is a cheap FIFO bound.
        while self._data and (
            len(self._data) >= self._max or self._bytes + len(value) > self._max_bytes
        ):
            self._drop(next(iter(self._data)))
        self._data[key] = (time.monotonic() + ttl, value)
        self._bytes += len(value)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._data.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1])

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()
        self._bytes = 0
