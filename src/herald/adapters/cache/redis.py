"""Redis cache. A cache that cannot answer is a miss, never an error: when Redis is
unreachable Herald keeps sending and reads through to the owning service."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)


def bounded_pool(url: str, *, size: int = 16) -> aioredis.BlockingConnectionPool:
    """A pool of at most ``size`` connections; a caller beyond that waits for one.

    redis-py's default pool opens a connection per concurrent caller and keeps it:
    under 256 concurrent requests the gateway held over 200, each with its buffers
    (about 25 MB). A round trip takes a fraction of a millisecond, so a few
    connections carry thousands of commands a second. Short socket timeouts make an
    unreachable Redis a quick miss, not a stall.
    """
    return aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=size,
        timeout=1.0,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        health_check_interval=10,
    )


class RedisCache:
    def __init__(self, url: str, *, prefix: str = "herald:") -> None:
        self._client = aioredis.Redis.from_pool(bounded_pool(url))
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("cache.redis.unavailable", op="get", error=str(exc))
            return None
        return value if isinstance(value, bytes) else None

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        try:
            values = await self._client.mget([self._prefix + k for k in keys])
        except (RedisError, OSError) as exc:
            log.warning("cache.redis.unavailable", op="mget", error=str(exc))
            return [None] * len(keys)
        return [v if isinstance(v, bytes) else None for v in values]

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        try:
            await self._client.set(self._prefix + key, value, px=max(int(ttl * 1000), 1))
        except (RedisError, OSError) as exc:
            log.warning("cache.redis.unavailable", op="set", error=str(exc))

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        try:
            await self._client.delete(*(self._prefix + k for k in keys))
        except (RedisError, OSError) as exc:
            # A failed invalidation leaves a stale entry for at most its TTL.
            log.warning("cache.redis.unavailable", op="delete", error=str(exc))

    async def ready(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()
