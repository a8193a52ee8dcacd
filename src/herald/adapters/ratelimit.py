"""Rate limits with the ``limits`` library: one adapter, memory or Redis storage.

When Redis is unreachable the limiter fails open: a notification service that stops
sending because its rate-limit store is down would lose more than it protects.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.asyncio import BlockingConnectionPool

from herald.adapters.cache.redis import bounded_pool
from herald.ports import RateDecision

log = structlog.get_logger(__name__)


class LimitsRateLimiter:
    def __init__(self, url: str, *, prefix: str = "herald") -> None:
        storage: Storage
        self._pool: BlockingConnectionPool | None = None
        if url.startswith("memory://"):
            storage = MemoryStorage()
        else:
            self._pool = bounded_pool(url)
            # A documented option that the signature types as a scalar.
            pool: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                "async+" + url,
                implementation="redispy",
                key_prefix=prefix,
                wrap_exceptions=True,
                **pool,
            )
        self._storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, limit: str, *keys: str) -> RateDecision:
        item = _parsed(limit)
        try:
            if await self._limiter.hit(item, *keys):
                # The window's stats cost a second round trip; only a 429 needs them.
                return RateDecision(True, item.amount, 0.0)
            stats = await self._limiter.get_window_stats(item, *keys)
        except (StorageError, OSError) as exc:
            log.warning("ratelimit.storage_unavailable", error=str(exc))
            return RateDecision(True, item.amount, 0.0)
        # Read just as a window turns over, the stats can name a reset already past:
        # then a whole window is the safe answer, never "retry now".
        reset_after = stats.reset_time - time.time()
        if reset_after <= 0:
            reset_after = float(item.get_expiry())
        return RateDecision(allowed=False, limit=item.amount, reset_after=reset_after)

    async def close(self) -> None:
        close = getattr(self._storage, "reset", None)
        if isinstance(self._storage, MemoryStorage) and close is not None:
            await close()
        if self._pool is not None:
            await self._pool.disconnect()


@functools.lru_cache(maxsize=64)
def _parsed(limit: str) -> RateLimitItem:
    """A limit's string is parsed once: ``parse`` runs two regular expressions per call,
    and every request checks two limits."""
    return parse(limit)
