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

# Requests in turn, each counted against all its limits or none. KEYS: each limit's
# previous and current window counter, in pairs, request after request. ARGV: the number
# of requests; then for each, its number of limits and, per limit, its amount, window
# length and time into the current window (both in ms). Returns each limit's wait in ms,
# 0 where one more request fits, in the same order. A later request sees the counts of
# the earlier ones: the script runs atomically and keeps the counts it has added.
_HIT = """
local counts, added, windows, waits, k, a = {}, {}, {}, {}, 0, 2
-- Each counter read once, however many requests name it (a batch's thousand items
-- share their API key's), and written once at the end.
local function count(key)
  local c = counts[key]
  if c == nil then
    c = tonumber(redis.call('GET', key) or '0')
    counts[key] = c
  end
  return c
end
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  a = a + 1
  local first, refused = #waits, false
  for i = 1, n do
    local amount = tonumber(ARGV[a])
    local window = tonumber(ARGV[a + 1])
    local elapsed = tonumber(ARGV[a + 2])
    a = a + 3
    local previous = count(KEYS[k + 2 * i - 1])
    local current = count(KEYS[k + 2 * i])
    local wait = 0
    if previous * (window - elapsed) / window + current + 1 > amount then
      if current + 1 <= amount then
        wait = window - (amount - 1 - current) * window / previous - elapsed
      else
        wait = 2 * window - elapsed - (amount - 1) * window / current
      end
      wait = math.max(math.ceil(wait), 1)
      refused = true
    end
    waits[first + i] = wait
    windows[KEYS[k + 2 * i]] = window
  end
  if not refused then
    for i = 1, n do
      local key = KEYS[k + 2 * i]
      counts[key] = counts[key] + 1
      added[key] = (added[key] or 0) + 1
    end
  end
  k = k + 2 * n
end
for key, n in pairs(added) do
  redis.call('INCRBY', key, n)
  -- Kept for two windows: the current window is the next one's previous.
  redis.call('PEXPIRE', key, 2 * windows[key])
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
        keys: list[str] = []
        args: list[int | float] = [len(requests)]
        for limits in requests:
            args.append(len(limits))
            for limit in limits:
                index, elapsed = limit.rule.window(now)
                keys += [self._key(limit, index - 1), self._key(limit, index)]
                args += [limit.rule.amount, limit.rule.seconds * 1000, elapsed * 1000]
        try:
            waits = iter(await self._script(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            log.warning("ratelimit.storage_unavailable", error=str(exc))
            waits = iter([0] * (len(keys) // 2))
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
