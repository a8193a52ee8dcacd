"""The gateway's storage port through SQLAlchemy: any database it speaks, SQLite for
``herald dev`` among them. PostgreSQL has a faster adapter of its own beside this one
(gateway_postgres.py), which keeps this one's reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict

from sqlalchemy import exc as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald.ports import RowRefused
from herald.services.gateway.admission import Admission
from herald.services.gateway.repositories import NotificationRepository, OutboxRepository
from herald.services.gateway.store import Mover, OutboxRow


def refused(exc: Exception) -> RowRefused:
    return RowRefused(str(exc).splitlines()[0][:300])


class SqlGatewayStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def admit(self, batch: Sequence[Admission]) -> set[uuid.UUID]:
        try:
            async with AsyncSession(self._engine) as session, session.begin():
                repo = NotificationRepository(session)
                # Two requests in one batch may share a request_id: only the first is new.
                inserted = await repo.insert_new([asdict(a.notification) for a in batch])
                stored = [a for a in batch if a.notification.id in inserted]
                await repo.insert_events([asdict(a.event) for a in stored])
                outbox = [asdict(a.outbox) for a in stored if a.outbox]
                await OutboxRepository(session).insert(outbox)
        except (sa.DataError, sa.IntegrityError) as exc:
            raise refused(exc) from exc
        return inserted

    @asynccontextmanager
    async def claim_outbox(self, limit: int) -> AsyncIterator[list[OutboxRow]]:
        async with AsyncSession(self._engine) as session, session.begin():
            repo = OutboxRepository(session)
            rows = [
                OutboxRow(
                    id=r.id,
                    routing_key=r.routing_key,
                    body=r.body,
                    priority=r.priority,
                    message_id=r.message_id,
                    correlation_id=r.correlation_id,
                )
                for r in await repo.claim(limit)
            ]
            yield rows
            await repo.remove([r.id for r in rows])

    async def apply_statuses(self, ids: Sequence[uuid.UUID], move: Mover) -> None:
        async with AsyncSession(self._engine) as session, session.begin():
            repo = NotificationRepository(session)
            _, entries = move(await repo.many(ids))
            repo.add(*entries)

    async def outbox_backlog(self) -> int:
        async with AsyncSession(self._engine) as session:
            return await OutboxRepository(session).backlog()
