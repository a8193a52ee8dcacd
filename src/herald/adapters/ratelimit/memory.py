"""In-process rate limits for ``herald dev`` (``HERALD_REDIS_URL=memory://``): the
sliding window counter of ``herald.domain.ratelimits`` on two counters per subject."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from herald.domain.ratelimits import wait
from herald.ports import RateDecision, RateLimit


@dataclass(slots=True)
class _Counters:
    index: int
    previous: int = 0
    current: int = 0

    def at(self, index: int) -> _Counters:
        """These counters as of window ``index``: an older window slides into the past."""
        if index == self.index:
            return self
        previous = self.current if index == self.index + 1 else 0
        return _Counters(index, previous)


class MemoryRateLimiter:
    def __init__(
        self, *, clock: Callable[[], float] = time.time, max_subjects: int = 100_000
    ) -> None:
        self._clock = clock
        self._max = max_subjects
        self._counters: dict[tuple[str, int], _Counters] = {}

    async def hit(self, *limits: RateLimit) -> list[RateDecision]:
        now = self._clock()
        found: list[tuple[tuple[str, int], _Counters]] = []
        decisions: list[RateDecision] = []
        for limit in limits:
            index, elapsed = limit.rule.window(now)
            key = (limit.key, limit.rule.seconds)
            counters = self._counters.get(key, _Counters(index)).at(index)
            found.append((key, counters))
            after = wait(
                limit.rule, previous=counters.previous, current=counters.current, elapsed=elapsed
            )
            decisions.append(RateDecision(after == 0.0, limit.rule.amount, after))
        if all(d.allowed for d in decisions):
            for key, counters in found:
                counters.current += 1
                self._keep(key, counters)
        return decisions

    async def hit_each(self, requests: Sequence[Sequence[RateLimit]]) -> list[list[RateDecision]]:
        return [await self.hit(*limits) for limits in requests]

    async def refund(self, *limits: RateLimit) -> None:
        now = self._clock()
        for limit in limits:
            key = (limit.key, limit.rule.seconds)
            counters = self._counters.get(key)
            if counters is not None and counters.index == limit.rule.window(now)[0]:
                counters.current = max(counters.current - 1, 0)

    def _keep(self, key: tuple[str, int], counters: _Counters) -> None:
        if key not in self._counters and len(self._counters) >= self._max:
            # Dicts keep insertion order: forgetting the oldest subject bounds memory.
            self._counters.pop(next(iter(self._counters)))
        self._counters[key] = counters

    async def close(self) -> None:
        self._counters.clear()
