"""Open-loop load: requests leave on schedule whether or not earlier ones have
answered, and latency is measured from the scheduled time, so a slow server cannot
hide its queueing (no coordinated omission)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Outcome:
    offered: float
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def achieved(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)]

    def summary(self) -> dict[str, float]:
        return {
            "offered_per_s": self.offered,
            "achieved_per_s": round(self.achieved, 1),
            "p50_ms": round(self.quantile(0.50) * 1000, 1),
            "p95_ms": round(self.quantile(0.95) * 1000, 1),
            "p99_ms": round(self.quantile(0.99) * 1000, 1),
            "max_ms": round(max(self.latencies, default=float("nan")) * 1000, 1),
            "errors": self.errors,
        }


@contextmanager
def no_collector_pauses() -> Iterator[None]:
    """Keep the load generator's garbage collector out of what it measures.

    The benchmark process holds everything it imported plus every task and latency of
    a phase; a full collection of that heap stalled its event loop for about 180 ms
    once every 20 s phase, and every request due in that window left late, by up
    to 180 ms, and was counted late. Reference counting still frees what it can;
    the cycles wait for the end of the phase.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def open_loop(call: Callable[[], Awaitable[bool]], *, rate: float, seconds: float) -> Outcome:
    """Fire ``call`` ``rate`` times a second for ``seconds``; ``call`` returns success."""
    with no_collector_pauses():
        return await _open_loop(call, rate=rate, seconds=seconds)


async def _open_loop(
    call: Callable[[], Awaitable[bool]], *, rate: float, seconds: float
) -> Outcome:
    outcome = Outcome(offered=rate, seconds=seconds)
    start = time.perf_counter()
    tasks = []

    async def one(scheduled: float) -> None:
        try:
            ok = await call()
        except Exception:
            ok = False
        if ok:
            outcome.latencies.append(time.perf_counter() - scheduled)
        else:
            outcome.errors += 1

    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    outcome.seconds = max(time.perf_counter() - start, seconds)
    return outcome
