"""Stores accepted notifications in group commits.

Each notification is three rows (the notification, its first history entry, its outbox
message) that must commit together; requests arriving together share one transaction
instead of paying for one each. A request_id already stored is left alone and its
request is answered as a replay. On PostgreSQL the whole batch is one statement.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

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
        self._batcher: Batcher[Admission, bool] = Batcher(
            "accepted notifications", self._store, max_size=batch_size
        )

    async def start(self) -> None:
        await self._batcher.start()

    async def stop(self) -> None:
        await self._batcher.stop()

    async def admit(self, admission: Admission) -> bool:
        """Store it; False when its request_id was already used (a replay)."""
        return await self._batcher.submit(admission)

    async def _store(self, batch: list[Admission]) -> list[bool]:
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
