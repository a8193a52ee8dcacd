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

from herald.domain.statuses import Status
from herald.ports import RowRefused
from herald.services.gateway.admission import Admission
from herald.services.gateway.fanout import Progress, advance
from herald.services.gateway.models import Notification
from herald.services.gateway.repositories import (
    NotificationRepository,
    OutboxRepository,
    TopicRepository,
)
from herald.services.gateway.store import Children, Mover, OutboxRow


def refused(exc: Exception) -> RowRefused:
    return RowRefused(str(exc).splitlines()[0][:300])


class SqlGatewayStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def admit(self, batch: Sequence[Admission]) -> set[uuid.UUID]:
        async with AsyncSession(self._engine) as session, session.begin():
            return await self._insert(session, batch)

    async def _insert(self, session: AsyncSession, batch: Sequence[Admission]) -> set[uuid.UUID]:
        """Store the batch in the session's transaction; return the ids stored."""
        try:
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

    async def audience(self, topic: str) -> int | None:
        async with AsyncSession(self._engine) as session:
            repo = TopicRepository(session)
            if await repo.get(topic) is None:
                return None
            return await repo.audience(topic)

    async def fan_out(self, page_size: int, children: Children) -> Progress | None:
        # The children are built between two transactions, not inside one: in herald
        # dev the users service they are read from shares this SQLite file, and would
        # wait on the write lock a transaction here holds. The second transaction
        # stores the page only if no one moved the send on meanwhile.
        async with AsyncSession(self._engine, expire_on_commit=False) as session:
            async with session.begin():
                found = await self._next_page(session, page_size)
            if found is None:
                return None
            parent, user_ids = found
            cursor = parent.fanout_cursor
            batch = await children(parent, user_ids)
            async with session.begin():
                locked = await NotificationRepository(session).get(parent.id, lock=True)
                if (
                    locked is None
                    or locked.status != Status.PENDING
                    or locked.fanout_cursor != cursor
                ):
                    return Progress(parent.id, 0, queued=False, done=False)
                return await self._store_page(session, locked, user_ids, batch, page_size)

    async def _next_page(
        self, session: AsyncSession, page_size: int
    ) -> tuple[Notification, list[uuid.UUID]] | None:
        """The oldest send still fanning out (locked, where the database locks rows),
        and its next page of subscribers."""
        parent = await NotificationRepository(session).fanning_out()
        if parent is None:
            return None
        assert parent.topic is not None
        user_ids = await TopicRepository(session).page_after(
            parent.topic, after=parent.fanout_cursor, before=parent.created_at, limit=page_size
        )
        return parent, user_ids

    async def _store_page(
        self,
        session: AsyncSession,
        parent: Notification,
        user_ids: list[uuid.UUID],
        batch: list[Admission],
        page_size: int,
    ) -> Progress:
        inserted = await self._insert(session, batch) if batch else set()
        last = user_ids[-1] if user_ids else None
        progress, event = advance(parent, batch, inserted, last, len(user_ids) < page_size)
        if event is not None:
            NotificationRepository(session).add(event)
        return progress

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
