"""The scheduler: releases what waits for a time, and closes digest windows.

Schedules and windows are rows, not timers, so they survive a restart of any process.
Each round claims due rows in batches (SKIP LOCKED on PostgreSQL: replicas take
different ones) and, in the same transaction, makes their notifications pending and
writes their messages to the outbox: a crash before the commit leaves them due, and
the next round takes them; one after leaves them gone. Each fires once.

Between rounds it sleeps until the next due time it read, at most ``IDLE_SECONDS``;
whatever stores sooner work in this process wakes it. Work another replica stored is
that replica's scheduler's to wake for, and if that replica is gone, the next look
here finds it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from herald.domain.clock import Clock, utcnow
from herald.domain.messages import SendNotification
from herald.kit.aio import Background, keep_stepping, within
from herald.services.gateway.store import GatewayStore, Released

log = structlog.get_logger(__name__)

# A digest's message carries every member's count, and the variables of this many.
MAX_DIGEST_ITEMS = 100


def compose(digest_id: uuid.UUID, body: bytes, items: list[dict[str, Any]]) -> bytes:
    """A digest's one message: its opener's command, sent as the digest, with the
    oldest member's variables and ``digest.count`` and ``digest.items`` added."""
    command = SendNotification.model_validate_json(body)
    variables = {
        **items[0],
        "digest": {"count": len(items), "items": items[:MAX_DIGEST_ITEMS]},
    }
    update = {"notification_id": digest_id, "variables": variables, "created_at": utcnow()}
    return command.model_copy(update=update).model_dump_json().encode()


class Scheduler:
    BATCH_SIZE = 5000
    IDLE_SECONDS = 2.0
    # With more due than a batch, rounds run this many at a time: on PostgreSQL each on
    # its own connection and rows (SKIP LOCKED), about twice the rate on two cores; on
    # SQLite they take turns.
    LANES = 2

    def __init__(
        self,
        store: GatewayStore,
        clock: Clock,
        *,
        on_queued: Callable[[], None],
        on_topics: Callable[[], None],
        on_backlog: Callable[[], None] = lambda: None,
        batch_size: int = BATCH_SIZE,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_queued = on_queued
        self._on_topics = on_topics
        self._on_backlog = on_backlog
        self._batch = batch_size
        # A window's close reads and moves all its members: fewer of them per round.
        self._windows = max(1, batch_size // 50)
        self._idle = idle_seconds
        self._backlog = False
        self._wake = asyncio.Event()
        self._loop = Background()

    def wake(self) -> None:
        """Work that may be due sooner than the scheduler sleeps for was stored."""
        self._wake.set()

    async def start(self) -> None:
        self._loop.start(self._run())

    async def stop(self) -> None:
        await self._loop.stop()

    async def step(self) -> bool:
        """One round: release due schedules, close due windows. True when a batch was
        full (more may be due at once)."""
        self._wake.clear()
        now = self._clock.now()
        lanes = self.LANES if self._backlog else 1
        rounds = await asyncio.gather(
            *(self._store.release_due(now, self._batch) for _ in range(lanes))
        )
        released = Released(
            sum(r.claimed for r in rounds),
            sum(r.queued for r in rounds),
            sum(r.topics for r in rounds),
        )
        closed = await self._store.close_digests(now, self._windows, compose)
        self._backlog = any(r.claimed >= self._batch for r in rounds)
        if self._backlog:
            self._on_backlog()  # before the wake-up below: the relay paces from it
        if released.claimed:
            log.info("notifications.schedules_released", count=released.claimed)
        if closed.claimed:
            log.info("notifications.digests_closed", count=closed.claimed)
        if released.queued or closed.queued:
            self._on_queued()
        if released.topics:
            self._on_topics()
        return self._backlog or closed.claimed >= self._windows

    async def _until_due(self) -> None:
        """Sleep until the next due time, at most the idle time, or until woken."""
        due = await self._store.next_due()
        wait = self._idle
        if due is not None:
            wait = min(wait, max(0.0, (due - self._clock.now()).total_seconds()))
        await within(wait, self._wake.wait())

    async def _run(self) -> None:
        # What is due stays due while the database is away, and goes once it answers.
        await keep_stepping(self.step, self._until_due, failed="notifications.scheduler.failed")
