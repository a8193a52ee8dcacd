"""Signals over Redis pub/sub, to every process of every replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from herald.adapters.cache.redis import bounded_pool

log = structlog.get_logger(__name__)


class RedisSignals:
    def __init__(self, url: str, *, prefix: str = "herald:") -> None:
        self._url = url
        self._prefix = prefix
        self._client = aioredis.Redis.from_pool(bounded_pool(url, size=4))

    async def publish(self, channel: str, message: str) -> None:
        try:
            await self._client.publish(self._prefix + channel, message)
        except (RedisError, OSError) as exc:
            log.warning("signals.redis.unavailable", op="publish", error=str(exc))

    async def listen(self, channel: str) -> AsyncIterator[str | None]:
        # A connection of its own, read without a socket timeout (a quiet channel is
        # not a dead one); a PING every 10 s finds one that is.
        subscriber = aioredis.Redis.from_url(
            self._url, socket_connect_timeout=1.0, health_check_interval=10
        )
        name, resumed = self._prefix + channel, False
        try:
            while True:
                pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.subscribe(name)
                    if resumed:
                        yield None  # whatever was published while away is lost
                    resumed = True
                    while True:
                        found = await pubsub.get_message(timeout=1.0)
                        if found is not None and found.get("type") == "message":
                            data = found["data"]
                            yield data.decode() if isinstance(data, bytes) else str(data)
                except (RedisError, OSError) as exc:
                    log.warning("signals.redis.unavailable", op="listen", error=str(exc))
                    await asyncio.sleep(1.0)
                finally:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
        finally:
            await subscriber.aclose()

    async def close(self) -> None:
        await self._client.aclose()
