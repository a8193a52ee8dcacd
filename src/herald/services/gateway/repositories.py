from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.db import insert_new
from herald.services.gateway.models import ApiKey, Notification, NotificationEvent, OutboxMessage


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
        rows = await self.session.scalars(
            select(Notification)
            .where(Notification.id.in_(ids))
            .order_by(Notification.id)
            .with_for_update()
        )
        return {n.id: n for n in rows}

    async def history(self, notification_id: uuid.UUID) -> list[NotificationEvent]:
        rows = await self.session.scalars(
            select(NotificationEvent)
            .where(NotificationEvent.notification_id == notification_id)
            .order_by(NotificationEvent.timestamp, NotificationEvent.id)
        )
        return list(rows)

    async def page(
        self, *, filters: dict[str, Any], offset: int, limit: int
    ) -> tuple[list[Notification], int]:
        stmt = select(Notification)
        for column, value in filters.items():
            stmt = stmt.where(getattr(Notification, column) == value)
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
