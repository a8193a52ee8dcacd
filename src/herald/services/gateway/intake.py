"""Stores accepted notifications in group commits.

Each notification is three rows (the notification, its first history entry, its outbox
message) that must commit together; requests arriving together share one transaction
instead of paying for one each. A request_id already stored is left alone and its
request is answered as a replay.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.kit.batch import Batcher
from herald.kit.db import unit_of_work
from herald.services.gateway.handlers import Admission
from herald.services.gateway.relay import OutboxRelay
from herald.services.gateway.repositories import NotificationRepository, OutboxRepository


class Intake:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        relay: OutboxRelay,
        *,
        batch_size: int = 200,
    ) -> None:
        self._sessions = sessions
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
        async with unit_of_work(self._sessions) as session:
            repo = NotificationRepository(session)
            # Two requests in one batch may share a request_id: only the first is new.
            inserted = await repo.insert_new([a.notification for a in batch])
            stored = [a for a in batch if a.notification["id"] in inserted]
            await repo.insert_events([a.event for a in stored])
            outbox = [a.outbox for a in stored if a.outbox is not None]
            await OutboxRepository(session).insert(outbox)
        if outbox:
            self._relay.wake()
        return [a.notification["id"] in inserted for a in batch]
