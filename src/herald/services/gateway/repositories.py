from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.domain.statuses import Status
from herald.kit.db import insert_new
from herald.services.gateway.models import (
    ApiKey,
    Digest,
    Notification,
    NotificationEvent,
    OutboxMessage,
    Schedule,
    Topic,
    TopicSubscriber,
)


class NotificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_request(self, api_key_id: uuid.UUID, request_id: str) -> Notification | None:
        stmt = select(Notification).where(
            Notification.api_key_id == api_key_id, Notification.request_id == request_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(self, notification_id: uuid.UUID, *, lock: bool = False) -> Notification | None:
        stmt = select(Notification).where(Notification.id == notification_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Notification]:
        """The notifications ``ids`` names, locked: by their ids, or by the digest they
        were sent in."""
        rows = await self.session.scalars(
            select(Notification)
            .where(or_(Notification.id.in_(ids), Notification.digest_id.in_(ids)))
            .order_by(Notification.id)
            .with_for_update()
        )
        return {n.id: n for n in rows}

    async def fanning_out(self) -> Notification | None:
        """The oldest topic send whose fan-out has not finished, locked; one another
        transaction holds is passed over (SKIP LOCKED: replicas take different ones)."""
        stmt = (
            select(Notification)
            # The status written into the statement, not bound: only then can PostgreSQL's
            # plans (generic ones too) use the partial index of sends fanning out.
            .where(
                Notification.topic.is_not(None),
                Notification.status == literal(Status.PENDING.value, literal_execute=True),
            )
            .order_by(Notification.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(stmt)).first()

    async def history(self, notification_id: uuid.UUID) -> list[NotificationEvent]:
        rows = await self.session.scalars(
            select(NotificationEvent)
            .where(NotificationEvent.notification_id == notification_id)
            .order_by(NotificationEvent.timestamp, NotificationEvent.id)
        )
        return list(rows)

    async def page(
        self,
        *,
        filters: dict[str, Any],
        offset: int,
        limit: int,
        after: datetime | None = None,
        before: datetime | None = None,
    ) -> tuple[list[Notification], int]:
        """Newest first, with each filter an equality; ``after``/``before`` bound the
        creation time (inclusive, exclusive)."""
        stmt = select(Notification)
        for column, value in filters.items():
            stmt = stmt.where(getattr(Notification, column) == value)
        if after is not None:
            stmt = stmt.where(Notification.created_at >= after)
        if before is not None:
            stmt = stmt.where(Notification.created_at < before)
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = await self.session.scalars(
            stmt.order_by(Notification.created_at.desc(), Notification.id)
            .offset(offset)
            .limit(limit)
        )
        return list(rows), int(total)

    def add(self, *entities: Notification | NotificationEvent | OutboxMessage) -> None:
        self.session.add_all(entities)

    async def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
        """Insert notifications whose request_id is new; return the ids inserted."""
        stmt = insert_new(self.session, Notification, "api_key_id", "request_id").returning(
            Notification.id
        )
        return set((await self.session.scalars(stmt, list(rows))).all())

    async def sent_as(self, message_id: uuid.UUID) -> list[Notification]:
        """The notifications a message was sent for: one, or a digest's members."""
        stmt = select(Notification).where(
            or_(Notification.id == message_id, Notification.digest_id == message_id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def insert_events(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(NotificationEvent), list(rows))


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, limit: int) -> Sequence[Row[Any]]:
        # SKIP LOCKED lets several gateway replicas relay side by side without
        # publishing the same row twice (PostgreSQL; SQLite has one writer anyway).
        # Plain rows, not ORM objects: nothing here is modified, and hundreds are read.
        table = OutboxMessage.__table__
        result = await self.session.execute(
            select(table).order_by(table.c.id).limit(limit).with_for_update(skip_locked=True)
        )
        return result.all()

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(OutboxMessage), list(rows))

    async def remove(self, ids: Sequence[int]) -> None:
        await self.session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))

    async def backlog(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


_SCHEDULED = literal(Status.SCHEDULED.value, literal_execute=True)


class ScheduleRepository:
    """Scheduled notifications and digest windows, released when due."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(Schedule), list(rows))

    async def due(self, now: datetime, limit: int) -> list[tuple[uuid.UUID, bytes | None]]:
        """Up to ``limit`` schedules due by ``now``, oldest first, none another replica
        holds; deleted with the transaction."""
        rows = (
            await self.session.execute(
                select(Schedule.id, Schedule.body)
                .where(Schedule.due_at <= now)
                .order_by(Schedule.due_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        ids = [r[0] for r in rows]
        if ids:
            await self.session.execute(delete(Schedule).where(Schedule.id.in_(ids)))
        return [(r[0], r[1]) for r in rows]

    async def release(self, where: Any, stamp: datetime) -> Sequence[Row[Any]]:
        """Make the scheduled notifications ``where`` picks pending (those cancelled
        meanwhile stay as they are); return what their messages need."""
        result = await self.session.execute(
            update(Notification)
            .where(where, Notification.status == _SCHEDULED)
            .values(status=Status.PENDING.value, updated_at=stamp)
            .returning(
                Notification.id,
                Notification.channel,
                Notification.priority,
                Notification.correlation_id,
                Notification.topic,
                Notification.variables,
                Notification.created_at,
            )
        )
        return result.all()

    async def next_due(self) -> datetime | None:
        """Two reads of an index's first entry."""
        schedule = select(func.min(Schedule.due_at)).scalar_subquery()
        window = (
            select(func.min(Digest.closes_at)).where(Digest.closed_at.is_(None)).scalar_subquery()
        )
        found = (await self.session.execute(select(schedule, window))).one()
        times = [t for t in found if t is not None]
        return min(times) if times else None

    async def open_digest(self, group_key: str, at: datetime) -> Digest | None:
        """The group's window still open at ``at``, held against its close (FOR SHARE:
        the close passes it over until this transaction ends)."""
        stmt = (
            select(Digest)
            .where(Digest.group_key == group_key, Digest.closed_at.is_(None), Digest.closes_at > at)
            .order_by(Digest.closes_at.desc())
            .limit(1)
            .with_for_update(read=True)
        )
        return (await self.session.scalars(stmt)).first()

    def add(self, digest: Digest) -> None:
        self.session.add(digest)

    async def closing(self, now: datetime, limit: int) -> list[Digest]:
        stmt = (
            select(Digest)
            .where(Digest.closed_at.is_(None), Digest.closes_at <= now)
            .order_by(Digest.closes_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(await self.session.scalars(stmt))


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        stmt = select(ApiKey).where(ApiKey.key_hash == key_hash)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_prefix(self, prefix: str) -> list[ApiKey]:
        return list(await self.session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)))

    async def all(self) -> list[ApiKey]:
        return list(await self.session.scalars(select(ApiKey).order_by(ApiKey.created_at)))

    def add(self, key: ApiKey) -> None:
        self.session.add(key)


class TopicRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, key: str) -> Topic | None:
        return await self.session.get(Topic, key)

    def add(self, topic: Topic) -> None:
        self.session.add(topic)

    async def delete(self, topic: Topic) -> None:
        # Its subscribers go first: SQLite enforces the cascade only where foreign keys
        # are on, and the rows must not outlive their topic anywhere.
        await self.session.execute(
            delete(TopicSubscriber).where(TopicSubscriber.topic_key == topic.key)
        )
        await self.session.delete(topic)

    async def page(self, *, offset: int, limit: int) -> tuple[list[tuple[Topic, int]], int]:
        total = await self.session.scalar(select(func.count()).select_from(Topic)) or 0
        counts = (
            select(TopicSubscriber.topic_key, func.count().label("n"))
            .group_by(TopicSubscriber.topic_key)
            .subquery()
        )
        rows = await self.session.execute(
            select(Topic, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.topic_key == Topic.key)
            .order_by(Topic.created_at, Topic.key)
            .offset(offset)
            .limit(limit)
        )
        return [(t, int(n)) for t, n in rows.all()], int(total)

    async def audience(self, key: str, *, before: datetime | None = None) -> int:
        stmt = select(func.count()).where(TopicSubscriber.topic_key == key)
        if before is not None:
            stmt = stmt.where(TopicSubscriber.created_at <= before)
        return int(await self.session.scalar(stmt) or 0)

    async def subscribe(self, key: str, user_ids: Sequence[uuid.UUID]) -> int:
        """Add those not yet subscribed (``user_ids`` without repeats); return how many
        were new."""
        stmt = insert_new(self.session, TopicSubscriber, "topic_key", "user_id").returning(
            TopicSubscriber.user_id
        )
        rows = [{"topic_key": key, "user_id": u} for u in user_ids]
        return len((await self.session.scalars(stmt, rows)).all())

    async def unsubscribe(self, key: str, user_ids: Sequence[uuid.UUID]) -> int:
        result = await self.session.execute(
            delete(TopicSubscriber).where(
                TopicSubscriber.topic_key == key, TopicSubscriber.user_id.in_(list(user_ids))
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def subscribers(self, key: str, *, offset: int, limit: int) -> list[TopicSubscriber]:
        rows = await self.session.scalars(
            select(TopicSubscriber)
            .where(TopicSubscriber.topic_key == key)
            .order_by(TopicSubscriber.user_id)
            .offset(offset)
            .limit(limit)
        )
        return list(rows)

    async def page_after(
        self, key: str, *, after: uuid.UUID | None, before: datetime, limit: int
    ) -> list[uuid.UUID]:
        """The next ``limit`` subscribers by user id after ``after``: those who followed
        the topic by ``before`` (the send), so that who joins later is not sent it."""
        stmt = select(TopicSubscriber.user_id).where(
            TopicSubscriber.topic_key == key, TopicSubscriber.created_at <= before
        )
        if after is not None:
            stmt = stmt.where(TopicSubscriber.user_id > after)
        return list(await self.session.scalars(stmt.order_by(TopicSubscriber.user_id).limit(limit)))
