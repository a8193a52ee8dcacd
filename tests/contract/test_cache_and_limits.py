"""One contract each for the cache and the rate limiter: memory and Redis alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from herald.adapters.cache.memory import MemoryCache
from herald.adapters.cache.redis import RedisCache
from herald.adapters.ratelimit import LimitsRateLimiter
from herald.ports import Cache, RateLimiter
from tests.servers import REDIS, drop_redis_prefix, need, unique


@pytest_asyncio.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    need("Redis", REDIS)
    prefix = unique("herald_t") + ":"
    redis_cache = RedisCache(f"redis://{REDIS[0]}:{REDIS[1]}/0", prefix=prefix)
    yield redis_cache
    await redis_cache.close()
    await drop_redis_prefix(prefix)


@pytest_asyncio.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield LimitsRateLimiter("memory://")
        return
    need("Redis", REDIS)
    prefix = unique("herald_t")
    redis_limiter = LimitsRateLimiter(f"redis://{REDIS[0]}:{REDIS[1]}/0", prefix=prefix)
    yield redis_limiter
    await redis_limiter.close()
    await drop_redis_prefix(prefix)


class TestCacheContract:
    async def test_set_get_delete(self, cache: Cache) -> None:
        assert await cache.get("a") is None
        await cache.set("a", b"1", ttl=10)
        await cache.set("b", b"2", ttl=10)
        assert await cache.get("a") == b"1"
        await cache.delete("a", "b")
        assert await cache.get("a") is None
        assert await cache.get("b") is None

    async def test_get_many_answers_each_key_in_order(self, cache: Cache) -> None:
        await cache.set("x", b"1", ttl=10)
        await cache.set("z", b"3", ttl=10)
        assert await cache.get_many(["z", "missing", "x"]) == [b"3", None, b"1"]

    async def test_entries_expire(self, cache: Cache) -> None:
        await cache.set("short", b"x", ttl=0.2)
        assert await cache.get("short") == b"x"
        await asyncio.sleep(0.35)
        assert await cache.get("short") is None

    async def test_ready(self, cache: Cache) -> None:
        assert await cache.ready() is True


class TestRedisCacheWhenRedisIsDown:
    async def test_an_unreachable_redis_is_a_miss_not_an_error(self) -> None:
        # Port 1 on loopback refuses connections: Redis is "down".
        down = RedisCache("redis://127.0.0.1:1/0")
        await down.set("k", b"v", ttl=1)
        assert await down.get("k") is None
        assert await down.get_many(["k", "j"]) == [None, None]
        await down.delete("k")
        assert await down.ready() is False
        await down.close()


class TestRedisConnections:
    async def test_concurrent_callers_share_a_few_connections(self) -> None:
        need("Redis", REDIS)
        url = f"redis://{REDIS[0]}:{REDIS[1]}/0"
        prefix = unique("herald_t")
        probe = aioredis.Redis.from_url(url)
        cache = RedisCache(url, prefix=prefix + ":")
        limiter = LimitsRateLimiter(url, prefix=prefix + ":limits")
        try:
            before = len(await probe.client_list())
            await asyncio.gather(*(cache.get_many([f"k{n}"]) for n in range(300)))
            await asyncio.gather(*(limiter.hit("1000/minute", "key", f"{n}") for n in range(300)))
            opened = len(await probe.client_list()) - before
            # Each adapter keeps at most 16, however many callers come at once.
            assert 0 < opened <= 32, f"{opened} connections for 600 concurrent calls"
        finally:
            await cache.close()
            await limiter.close()
            await probe.aclose()
            await drop_redis_prefix(prefix)


class TestRateLimiterContract:
    async def test_allows_up_to_the_limit_then_refuses(self, limiter: RateLimiter) -> None:
        decisions = [await limiter.hit("3/minute", "key", "a") for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert decisions[-1].limit == 3
        assert 0 < decisions[-1].reset_after <= 60

    async def test_keys_are_counted_separately(self, limiter: RateLimiter) -> None:
        assert (await limiter.hit("1/minute", "key", "a")).allowed
        assert (await limiter.hit("1/minute", "key", "b")).allowed
        assert not (await limiter.hit("1/minute", "key", "a")).allowed


class TestRateLimiterWhenRedisIsDown:
    async def test_fails_open(self) -> None:
        down = LimitsRateLimiter("redis://127.0.0.1:1/0")
        decision = await down.hit("1/minute", "key", "a")
        assert decision.allowed
        assert (await down.hit("1/minute", "key", "a")).allowed
