"""Stores accepted notifications in group commits.

Each notification is three rows (the notification, its first history entry, its outbox
message) that must commit together; requests arriving together share one transaction
instead of paying for one each. A request_id already stored is left alone and its
request is answered as a replay. On PostgreSQL the whole batch is one statement.

A row the database refuses (what validation let through and PostgreSQL cannot store)
must not fail the requests that happened to share its transaction: the batch is then
stored one notification at a time, and only the refused one gets a 422.
"""

from __future__ import annotations

import uuid

import asyncpg
import structlog
from sqlalchemy import exc as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald.domain.errors import HeraldError
from herald.kit.batch import Batcher
from herald.kit.db import postgres_driver
from herald.services.gateway.handlers import Admission
from herald.services.gateway.relay import OutboxRelay
from herald.services.gateway.repositories import (
    ADMIT_SQL,
    NotificationRepository,
    OutboxRepository,
    admit_arguments,
)

log = structlog.get_logger(__name__)

# The database refusing one row's data, as opposed to the database failing.
_REFUSED = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    sa.DataError,
    sa.IntegrityError,
)


class Intake:
    def __init__(
        self,
        engine: AsyncEngine,
        relay: OutboxRelay,
        *,
        batch_size: int = 200,
    ) -> None:
        self._engine = engine
        self._relay = relay
        self._batcher: Batcher[Admission, bool | HeraldError] = Batcher(
            "accepted notifications", self._store, max_size=batch_size
        )

    async def start(self) -> None:
        await self._batcher.start()

    async def stop(self) -> None:
        await self._batcher.stop()

    async def admit(self, admission: Admission) -> bool:
        """Store it; False when its request_id was already used (a replay)."""
        stored = await self._batcher.submit(admission)
        if isinstance(stored, HeraldError):
            raise stored
        return stored

    async def _store(self, batch: list[Admission]) -> list[bool | HeraldError]:
        try:
            return list(await self._store_all(batch))
        except _REFUSED as exc:
            if len(batch) == 1:
                return [_refused(exc)]
        results: list[bool | HeraldError] = []
        for admission in batch:
            try:
                results += await self._store_all([admission])
            except _REFUSED as exc:
                results.append(_refused(exc))
        return results

    async def _store_all(self, batch: list[Admission]) -> list[bool]:
        async with self._engine.connect() as conn:
            driver = await postgres_driver(conn)
            if driver is not None:
                bodies = {a.notification["id"]: a.outbox["body"] for a in batch if a.outbox}
                arguments = admit_arguments([a.notification for a in batch], bodies)
                rows = await driver.fetch(ADMIT_SQL, *arguments)  # commits by itself
                inserted: set[uuid.UUID] = {r[0] for r in rows}
            else:
                async with AsyncSession(conn) as session, session.begin():
                    inserted = await self._insert(session, batch)
        if any(a.outbox and a.notification["id"] in inserted for a in batch):
            self._relay.wake()
        return [a.notification["id"] in inserted for a in batch]

    @staticmethod
    async def _insert(session: AsyncSession, batch: list[Admission]) -> set[uuid.UUID]:
        repo = NotificationRepository(session)
        # Two requests in one batch may share a request_id: only the first is new.
        inserted = await repo.insert_new([a.notification for a in batch])
        stored = [a for a in batch if a.notification["id"] in inserted]
        await repo.insert_events([a.event for a in stored])
        await OutboxRepository(session).insert([a.outbox for a in stored if a.outbox])
        return inserted


def _refused(exc: Exception) -> HeraldError:
    reason = str(exc).splitlines()[0][:300]
    log.warning("notifications.refused_by_database", error=reason)
    return HeraldError.invalid(f"the notification cannot be stored: {reason}")
