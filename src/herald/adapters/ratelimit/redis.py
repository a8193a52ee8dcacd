"""Rate limits on Redis: every limit of a request checked and counted in one script.

One ``EVALSHA`` per request (or per batch of requests), however many limits it counts
against, and atomic: a request one limit refuses is counted against none of them. The
script applies the sliding window counter of ``herald.domain.ratelimits`` (the memory
limiter applies the Python one; one contract test holds both to the same answers).

When Redis is unreachable the limiter fails open: a notification service that stops
sending because its rate-limit store is down would lose more than it protects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from herald.adapters.cache.redis import bounded_pool
from herald.ports import RateDecision, RateLimit

log = structlog.get_logger(__name__)

# Requests in turn, each counted against all its limits or none. Each distinct limit is
# described once (a batch's thousand items share their API key's, and often their
# recipient's), and a request names its limits by number. KEYS: each distinct limit's
# previous and current window counter, in pairs. ARGV: the number of distinct limits,
# then for each its amount, window length and time into the current window (both in
# ms); then the number of requests and, for each, its number of limits and their
# numbers. Returns each request's limits' waits in ms, 0 where one more request fits,
# request after request. A later request sees the counts of the earlier ones: the
# script runs atomically and keeps the counts it has added.
_HIT = """
local limits = tonumber(ARGV[1])
local previous, current, amounts, windows, elapsed, added = {}, {}, {}, {}, {}, {}
for l = 1, limits do
  -- Each counter read once, however many requests name it, and written once.
  previous[l] = tonumber(redis.call('GET', KEYS[2 * l - 1]) or '0')
  current[l] = tonumber(redis.call('GET', KEYS[2 * l]) or '0')
  amounts[l] = tonumber(ARGV[3 * l - 1])
  windows[l] = tonumber(ARGV[3 * l])
  elapsed[l] = tonumber(ARGV[3 * l + 1])
  added[l] = 0
end
local a = 3 * limits + 2
local waits = {}
for r = 1, tonumber(ARGV[a]) do
  local n = tonumber(ARGV[a + 1])
  local first, refused = #waits, false
  for i = 1, n do
    local l = tonumber(ARGV[a + 1 + i])
    local amount, window, e = amounts[l], windows[l], elapsed[l]
    local p, c = previous[l], current[l]
    local wait = 0
    if p * (window - e) / window + c + 1 > amount then
      if c + 1 <= amount then
        wait = window - (amount - 1 - c) * window / p - e
      else
        wait = 2 * window - e - (amount - 1) * window / c
      end
      wait = math.max(math.ceil(wait), 1)
      refused = true
    end
    waits[first + i] = wait
  end
  if not refused then
    for i = 1, n do
      local l = tonumber(ARGV[a + 1 + i])
      current[l] = current[l] + 1
      added[l] = added[l] + 1
    end
  end
  a = a + 1 + n
end
for l = 1, limits do
  if added[l] > 0 then
    redis.call('INCRBY', KEYS[2 * l], added[l])
    -- Kept for two windows: the current window is the next one's previous.
    redis.call('PEXPIRE', KEYS[2 * l], 2 * windows[l])
  end
end
return waits
"""


# KEYS: each limit's current window counter. Takes one request back from each.
_REFUND = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then
    redis.call('DECR', KEYS[i])
  end
end
return 0
"""


class RedisRateLimiter:
    def __init__(
        self, url: str, *, prefix: str = "herald:limits", clock: Callable[[], float] = time.time
    ) -> None:
        self._client = aioredis.Redis.from_pool(bounded_pool(url))
        self._script = self._client.register_script(_HIT)
        self._refund = self._client.register_script(_REFUND)
        self._prefix = prefix
        self._clock = clock

    def _key(self, limit: RateLimit, index: int) -> str:
        return f"{self._prefix}:{limit.key}:{limit.rule.seconds}:{index}"

    async def hit(self, *limits: RateLimit) -> list[RateDecision]:
        (decisions,) = await self.hit_each([limits])
        return decisions

    async def hit_each(self, requests: Sequence[Sequence[RateLimit]]) -> list[list[RateDecision]]:
        now = self._clock()
        numbers: dict[RateLimit, int] = {}
        keys: list[str] = []
        described: list[int | float] = []
        named: list[int] = [len(requests)]
        for limits in requests:
            named.append(len(limits))
            for limit in limits:
                number = numbers.get(limit)
                if number is None:
                    number = numbers[limit] = len(numbers) + 1
                    index, elapsed = limit.rule.window(now)
                    keys += [self._key(limit, index - 1), self._key(limit, index)]
                    described += [limit.rule.amount, limit.rule.seconds * 1000, elapsed * 1000]
                named.append(number)
        try:
            waits = iter(await self._script(keys=keys, args=[len(numbers), *described, *named]))
        except (RedisError, OSError) as exc:
            log.warning("ratelimit.storage_unavailable", error=str(exc))
            waits = iter([0] * (len(named) - 1 - len(requests)))
        return [
            [
                RateDecision(int(ms) == 0, limit.rule.amount, int(ms) / 1000)
                for limit, ms in zip(limits, waits, strict=False)  # one iterator for every request
            ]
            for limits in requests
        ]

    async def refund(self, *limits: RateLimit) -> None:
        now = self._clock()
        keys = [self._key(limit, limit.rule.window(now)[0]) for limit in limits]
        try:
            await self._refund(keys=keys)
        except (RedisError, OSError) as exc:
            log.warning("ratelimit.storage_unavailable", error=str(exc))

    async def close(self) -> None:
        await self._client.aclose()
