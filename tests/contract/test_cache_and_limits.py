"""One contract each for the cache and the rate limiter: memory and Redis alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from herald.adapters.cache.memory import MemoryCache
from herald.adapters.cache.redis import RedisCache
from herald.adapters.ratelimit.memory import MemoryRateLimiter
from herald.adapters.ratelimit.redis import RedisRateLimiter
from herald.domain.ratelimits import Rule
from herald.ports import Cache, RateLimit, RateLimiter
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


class Clock:
    """A clock the test moves by hand, so that windows turn over when it says."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield MemoryRateLimiter(clock=clock)
        return
    need("Redis", REDIS)
    prefix = unique("herald_t")
    redis_limiter = RedisRateLimiter(f"redis://{REDIS[0]}:{REDIS[1]}/0", prefix=prefix, clock=clock)
    yield redis_limiter
    await redis_limiter.close()
    await drop_redis_prefix(prefix)


def per(text: str, key: str) -> RateLimit:
    return RateLimit(Rule.parse(text), key)


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
        limiter = RedisRateLimiter(url, prefix=prefix + ":limits")
        try:
            before = len(await probe.client_list())
            await asyncio.gather(*(cache.get_many([f"k{n}"]) for n in range(300)))
            await asyncio.gather(*(limiter.hit(per("1000/minute", f"key:{n}")) for n in range(300)))
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
        decisions = [(await limiter.hit(per("3/minute", "key:a")))[0] for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert decisions[-1].limit == 3
        assert decisions[-1].reset_after > 0

    async def test_keys_are_counted_separately(self, limiter: RateLimiter) -> None:
        assert (await limiter.hit(per("1/minute", "key:a")))[0].allowed
        assert (await limiter.hit(per("1/minute", "key:b")))[0].allowed
        assert not (await limiter.hit(per("1/minute", "key:a")))[0].allowed

    async def test_a_refund_gives_back_one_request_and_never_goes_below_zero(
        self, limiter: RateLimiter
    ) -> None:
        limits = (per("2/minute", "key:r"), per("2/minute", "recipient:r"))
        for _ in range(2):
            assert all(d.allowed for d in await limiter.hit(*limits))
        await limiter.refund(*limits)
        assert all(d.allowed for d in await limiter.hit(*limits))
        assert not any(d.allowed for d in await limiter.hit(*limits))
        for _ in range(5):
            await limiter.refund(per("2/minute", "key:fresh"))
        for _ in range(2):
            assert (await limiter.hit(per("2/minute", "key:fresh")))[0].allowed
        assert not (await limiter.hit(per("2/minute", "key:fresh")))[0].allowed

    async def test_a_refused_request_counts_against_no_limit(self, limiter: RateLimiter) -> None:
        # Given a recipient whose limit is spent
        await limiter.hit(per("1/minute", "recipient:r"))
        # When the same API key is refused for that recipient twice
        for _ in range(2):
            by_key, by_recipient = await limiter.hit(
                per("2/minute", "key:k"), per("1/minute", "recipient:r")
            )
            assert by_key.allowed and not by_recipient.allowed
        # Then the key's two requests are still unspent
        assert (await limiter.hit(per("2/minute", "key:k")))[0].allowed
        assert (await limiter.hit(per("2/minute", "key:k")))[0].allowed
        assert not (await limiter.hit(per("2/minute", "key:k")))[0].allowed

    async def test_requests_in_one_call_count_in_turn(self, limiter: RateLimiter) -> None:
        # A batch's items: the key allows 3, recipient a allows 1
        requests = [
            (per("3/minute", "key:b"), per("1/minute", f"recipient:{who}"))
            for who in ("a", "a", "b", "c", "d")
        ]
        decided = await limiter.hit_each(requests)
        # the second "a" is refused by its recipient, and spends no key slot
        assert [[d.allowed for d in pair] for pair in decided] == [
            [True, True],
            [True, False],
            [True, True],
            [True, True],
            [False, True],
        ]
        assert not (await limiter.hit(per("3/minute", "key:b")))[0].allowed
        assert await limiter.hit_each([]) == []

    async def test_the_previous_window_weighs_by_its_overlap(
        self, limiter: RateLimiter, clock: Clock
    ) -> None:
        # Given 10 requests late in one minute window
        clock.now = 60 * 30_000_000 + 50
        for _ in range(10):
            assert (await limiter.hit(per("10/minute", "key:w")))[0].allowed
        # When a quarter of the next window has passed, the previous one still weighs
        # 7.5: two more fit, not three
        clock.now += 25
        decisions = [(await limiter.hit(per("10/minute", "key:w")))[0] for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False]
        # Then the wait is until 10 - 1 - 2 = 7 of the 10 remain: at 18 s into the window
        assert decisions[-1].reset_after == pytest.approx(18 - 15, abs=0.001)
        clock.now += 3.001
        assert (await limiter.hit(per("10/minute", "key:w")))[0].allowed

    async def test_a_full_window_waits_for_the_next_one_to_let_it_slide(
        self, limiter: RateLimiter, clock: Clock
    ) -> None:
        clock.now = 60 * 30_000_000 + 20
        for _ in range(3):
            await limiter.hit(per("3/minute", "key:f"))
        refused = (await limiter.hit(per("3/minute", "key:f")))[0]
        # 40 s to the next window, then 20 s until the full one weighs 2 of 3.
        assert refused.reset_after == pytest.approx(60, abs=0.001)
        clock.now += 59.9
        assert not (await limiter.hit(per("3/minute", "key:f")))[0].allowed
        clock.now += 0.2
        assert (await limiter.hit(per("3/minute", "key:f")))[0].allowed


class TestRateLimiterWhenRedisIsDown:
    async def test_fails_open(self) -> None:
        down = RedisRateLimiter("redis://127.0.0.1:1/0")
        decisions = await down.hit(per("1/minute", "key:a"), per("1/minute", "recipient:b"))
        assert all(d.allowed for d in decisions)
        assert (await down.hit(per("1/minute", "key:a")))[0].allowed
        await down.close()


class TestRules:
    @pytest.mark.parametrize(
        ("text", "amount", "seconds"),
        [
            ("100/minute", 100, 60),
            ("10 per second", 10, 1),
            ("1000 per 10 seconds", 1000, 10),
            ("5/2 hours", 5, 7200),
            ("20/Minute", 20, 60),
        ],
    )
    def test_reads_the_notation(self, text: str, amount: int, seconds: int) -> None:
        assert Rule.parse(text) == Rule(amount, seconds)

    @pytest.mark.parametrize("text", ["banana", "0/minute", "10/fortnight", "5 per 0 seconds"])
    def test_refuses_what_it_cannot_read(self, text: str) -> None:
        with pytest.raises(ValueError, match="rate limit"):
            Rule.parse(text)
