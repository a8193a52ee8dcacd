"""Open breakers reach the console through the cache: reported while open, taken back
when closed, and forgotten when their worker stops reporting."""

from __future__ import annotations

import json

from herald.adapters.cache.memory import MemoryCache
from herald.domain.breaker import BreakerBoard
from herald.kit import breakers
from herald.kit.breakers import BreakerReport, open_breakers


async def test_an_open_breaker_is_reported_then_taken_back() -> None:
    cache = MemoryCache()
    now = [0.0]
    board = BreakerBoard(failure_threshold=1, reset_seconds=30, clock=lambda: now[0])
    other = BreakerBoard(failure_threshold=1, reset_seconds=30, clock=lambda: now[0])
    mine, theirs = BreakerReport(cache, "email", board), BreakerReport(cache, "email", other)
    await mine.publish()
    assert await open_breakers(cache, ["email", "push"]) == []

    board.for_target("smtp.example.com:25").record_failure()
    other.for_target("relay.example.com:587").record_failure()
    await mine.publish()
    await theirs.publish()
    assert await open_breakers(cache, ["email", "push"]) == [
        {"channel": "email", "target": "relay.example.com:587", "state": "open"},
        {"channel": "email", "target": "smtp.example.com:25", "state": "open"},
    ]

    board.for_target("smtp.example.com:25").record_success()
    await mine.publish()
    assert await open_breakers(cache, ["email"]) == [
        {"channel": "email", "target": "relay.example.com:587", "state": "open"}
    ]


async def test_a_worker_that_stopped_reporting_drops_out() -> None:
    cache = MemoryCache()
    stale = {"gone": {"at": 1.0, "open": {"smtp.example.com:25": "open"}}}
    await cache.set("breakers:email", json.dumps(stale).encode(), ttl=60)
    assert await open_breakers(cache, ["email"]) == []
    await cache.set("breakers:email", b"not json", ttl=60)
    assert await open_breakers(cache, ["email"]) == []
    assert breakers.FRESH > breakers.EVERY
