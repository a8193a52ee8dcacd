"""Rate limits on Redis: every limit of a request checked and counted in one script.

One ``EVALSHA`` per request, however many limits it counts against, and atomic: a
request one limit refuses is counted against none of them. The script applies the
sliding window counter of ``herald.domain.ratelimits`` (the memory limiter applies
the Python one; one contract test holds both to the same answers).

When Redis is unreachable the limiter fails open: a notification service that stops
sending because its rate-limit store is down would lose more than it protects.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from herald.adapters.cache.redis import bounded_pool
from herald.ports import RateDecision, RateLimit

log = structlog.get_logger(__name__)

# KEYS: each limit's previous and current window counter, in pairs. ARGV: each limit's
# amount, window length and time into the current window (both in ms), in threes.
# Returns each limit's wait in ms, 0 where one more request fits; counts the request
# against every limit only when all of them have room.
_HIT = """
local waits, refused = {}, false
for i = 1, #KEYS / 2 do
  local amount = tonumber(ARGV[3 * i - 2])
  local window = tonumber(ARGV[3 * i - 1])
  local elapsed = tonumber(ARGV[3 * i])
  local previous = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local current = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
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
  waits[i] = wait
end
if not refused then
  for i = 1, #KEYS / 2 do
    redis.call('INCR', KEYS[2 * i])
    -- Kept for two windows: the current window is the next one's previous.
    redis.call('PEXPIRE', KEYS[2 * i], 2 * tonumber(ARGV[3 * i - 1]))
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
        now = self._clock()
        keys: list[str] = []
        args: list[int | float] = []
        for limit in limits:
            index, elapsed = limit.rule.window(now)
            keys += [self._key(limit, index - 1), self._key(limit, index)]
            args += [limit.rule.amount, limit.rule.seconds * 1000, elapsed * 1000]
        try:
            waits = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            log.warning("ratelimit.storage_unavailable", error=str(exc))
            return [RateDecision(True, limit.rule.amount, 0.0) for limit in limits]
        return [
            RateDecision(int(ms) == 0, limit.rule.amount, int(ms) / 1000)
            for limit, ms in zip(limits, waits, strict=True)
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
