"""The gateway's storage port through SQLAlchemy: any database it speaks, SQLite for
``herald dev`` among them. PostgreSQL has a faster adapter of its own beside this one
(gateway_postgres.py), which keeps this one's reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald.domain.clock import utcnow
from herald.domain.statuses import Status
from herald.ports import RowRefused
from herald.services.gateway.admission import Admission
from herald.services.gateway.fanout import Progress, advance
from herald.services.gateway.models import Digest, Notification
from herald.services.gateway.repositories import (
    NotificationRepository,
    OutboxRepository,
    ScheduleRepository,
    TopicRepository,
)
from herald.services.gateway.store import Children, Compose, Mover, OutboxRow, Released
from herald.services.gateway.webhooks import events as webhook_events


def _pending(notification_id: uuid.UUID, stamp: datetime) -> dict[str, Any]:
    return {
        "notification_id": notification_id,
        "status": Status.PENDING.value,
        "attempt": 0,
        "error": None,
        "timestamp": stamp,
    }


def _message(message_id: uuid.UUID, n: Any, body: bytes, stamp: datetime) -> dict[str, Any]:
    """An outbox row for a message released now: ``n`` the notification it goes for."""
    return {
        "routing_key": n.channel,
        "body": body,
        "priority": n.priority,
        "message_id": str(message_id),
        "correlation_id": n.correlation_id,
        "created_at": stamp,
    }


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
            await self._join_digests(session, batch)
            repo = NotificationRepository(session)
            # Two requests in one batch may share a request_id: only the first is new.
            inserted = await repo.insert_new([asdict(a.notification) for a in batch])
            stored = [a for a in batch if a.notification.id in inserted]
            await repo.insert_events([asdict(a.event) for a in stored])
            await webhook_events.record(
                session, webhook_events.rows([a.event for a in stored], first=True)
            )
            outbox = [asdict(a.outbox) for a in stored if a.outbox]
            await OutboxRepository(session).insert(outbox)
            await ScheduleRepository(session).insert(
                [
                    {"id": a.notification.id, "due_at": a.schedule.due_at, "body": a.schedule.body}
                    for a in stored
                    if a.schedule
                ]
            )
        except (sa.DataError, sa.IntegrityError) as exc:
            raise refused(exc) from exc
        return inserted

    async def _join_digests(self, session: AsyncSession, batch: Sequence[Admission]) -> None:
        """Each digest member into its group's open window, or a new one it opens."""
        groups: dict[str, list[Admission]] = {}
        for a in batch:
            if a.digest is not None:
                groups.setdefault(a.digest.group_key, []).append(a)
        repo = ScheduleRepository(session)
        for key in sorted(groups):  # locked in one order, as every transaction does
            members = groups[key]
            join = members[0].digest
            assert join is not None
            await self._lock_group(session, key)
            window = await repo.open_digest(key, join.at)
            if window is None:
                window = Digest(
                    id=uuid.uuid4(), group_key=key, closes_at=join.closes_at, body=join.body
                )
                repo.add(window)
                await session.flush()
            for a in members:
                a.notification.digest_id = window.id
                a.notification.send_at = window.closes_at

    async def _lock_group(self, session: AsyncSession, key: str) -> None:
        """Keep two first members of one group from opening a window each. SQLite has
        one writer at a time already."""

    async def release_due(self, now: datetime, limit: int) -> Released:
        async with AsyncSession(self._engine) as session, session.begin():
            repo = ScheduleRepository(session)
            due = dict(await repo.due(now, limit))
            if not due:
                return Released(0, 0)
            stamp = utcnow()
            moved = await repo.release(Notification.id.in_(list(due)), stamp)
            await NotificationRepository(session).insert_events(
                [_pending(m.id, stamp) for m in moved]
            )
            outbox = [
                _message(m.id, m, body, stamp) for m in moved if (body := due[m.id]) is not None
            ]
            await OutboxRepository(session).insert(outbox)
            topics = sum(1 for m in moved if m.topic is not None)
            return Released(len(due), len(outbox), topics)

    async def next_due(self) -> datetime | None:
        async with AsyncSession(self._engine) as session:
            return await ScheduleRepository(session).next_due()

    async def close_digests(self, now: datetime, limit: int, compose: Compose) -> Released:
        async with AsyncSession(self._engine) as session, session.begin():
            repo = ScheduleRepository(session)
            windows = await repo.closing(now, limit)
            queued = 0
            for window in windows:
                stamp = utcnow()
                members = sorted(
                    await repo.release(Notification.digest_id == window.id, stamp),
                    key=lambda m: (m.created_at, m.id),
                )
                window.closed_at, window.members = stamp, len(members)
                if not members:
                    continue  # every member was cancelled
                await NotificationRepository(session).insert_events(
                    [_pending(m.id, stamp) for m in members]
                )
                body = compose(window.id, window.body, [m.variables for m in members])
                await OutboxRepository(session).insert(
                    [_message(window.id, members[0], body, stamp)]
                )
                queued += 1
            return Released(len(windows), queued)

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
        # Who follows the topic by the time it goes: its send, or its due time.
        went = max(parent.created_at, parent.send_at or parent.created_at)
        user_ids = await TopicRepository(session).page_after(
            parent.topic, after=parent.fanout_cursor, before=went, limit=page_size
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
            await webhook_events.record(session, webhook_events.rows([event]))
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
            await webhook_events.record(session, webhook_events.rows(entries))

    async def outbox_backlog(self) -> int:
        async with AsyncSession(self._engine) as session:
            return await OutboxRepository(session).backlog()
