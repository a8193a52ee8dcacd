"""In-memory cache for ``herald dev`` (``HERALD_REDIS_URL=memory://``)."""

from __future__ import annotations

import time
from collections.abc import Sequence


class MemoryCache:
    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._data: dict[str, tuple[float, bytes]] = {}
        self._max = max_entries

    async def get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            self._data.pop(key, None)
            return None
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get(k) for k in keys]

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        if len(self._data) >= self._max:
            # Dicts keep insertion order: dropping the oldest entry is a cheap FIFO bound.
            self._data.pop(next(iter(self._data)))
        self._data[key] = (time.monotonic() + ttl, value)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(key, None)

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()
