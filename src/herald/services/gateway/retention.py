"""Retention: notifications older than ``HERALD_RETENTION_DAYS`` and their history are
removed (an in-app one's feed item with it), with closed digest windows, in batches of
short transactions, so that a sweep never holds a lock for long and replicas sweeping
at once take different rows (``SKIP LOCKED`` on PostgreSQL).

Only notifications in a final status go: one still pending or scheduled is kept,
however old. A request_id whose notification is gone is new again: a client replaying
a request older than the retention sends it again."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.domain.clock import Clock
from herald.domain.statuses import FINAL
from herald.kit.aio import Background
from herald.kit.db import unit_of_work
from herald.kit.metrics import RETENTION_REMOVED
from herald.services.gateway.models import (
    Digest,
    FeedItem,
    InAppDelivery,
    Notification,
    NotificationEvent,
    Schedule,
)

log = structlog.get_logger(__name__)
_FINAL = sorted(s.value for s in FINAL)


class Retention:
    BATCH = 1000
    # Once an hour, give or take: replicas spread out, and nothing is urgent.
    EVERY = 3600.0

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        days: int,
        batch: int = BATCH,
        every: float = EVERY,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._keep = timedelta(days=days)
        self._batch = batch
        self._every = every
        self._loop = Background()

    async def sweep(self) -> int:
        """Remove what is past its time, batch after batch; how many notifications."""
        cutoff = self._clock.now() - self._keep
        removed = 0
        while True:
            chosen, done = await self._notifications(cutoff)
            removed += done
            if chosen < self._batch:
                break
        while await self._digests(cutoff) == self._batch:
            pass
        if removed:
            RETENTION_REMOVED.inc(removed)
            log.info("retention.removed", notifications=removed, before=cutoff.isoformat())
        return removed

    async def _notifications(self, cutoff: datetime) -> tuple[int, int]:
        """How many were chosen, and how many removed (another sweep may have taken
        some first where rows cannot be skipped)."""
        async with unit_of_work(self._sessions) as session:
            chosen = (
                select(Notification.id)
                .where(Notification.created_at < cutoff, Notification.status.in_(_FINAL))
                .order_by(Notification.created_at)
                .limit(self._batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                chosen = chosen.with_for_update(skip_locked=True)
            ids = list(await session.scalars(chosen))
            if ids:
                # Children first: SQLite enforces no foreign key unless told to.
                await session.execute(
                    delete(NotificationEvent).where(NotificationEvent.notification_id.in_(ids))
                )
                await session.execute(delete(Schedule).where(Schedule.id.in_(ids)))
                # An in-app notification's item goes with it, and its ledger row.
                await session.execute(delete(FeedItem).where(FeedItem.notification_id.in_(ids)))
                await session.execute(
                    delete(InAppDelivery).where(InAppDelivery.notification_id.in_(ids))
                )
                gone = await session.execute(delete(Notification).where(Notification.id.in_(ids)))
                return len(ids), int(gone.rowcount)  # type: ignore[attr-defined]
            return 0, 0

    async def _digests(self, cutoff: datetime) -> int:
        async with unit_of_work(self._sessions) as session:
            chosen = (
                select(Digest.id)
                .where(Digest.closed_at.is_not(None), Digest.closed_at < cutoff)
                .limit(self._batch)
            )
            ids = list(await session.scalars(chosen))
            if ids:
                await session.execute(delete(Digest).where(Digest.id.in_(ids)))
            return len(ids)

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # the next sweep tries again
                log.warning("retention.failed", error=str(exc))
            await asyncio.sleep(self._every * random.uniform(0.5, 1.0))

    async def start(self) -> None:
        self._loop.start(self._run())

    async def stop(self) -> None:
        await self._loop.stop()
