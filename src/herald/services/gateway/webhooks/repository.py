"""Webhook endpoints, events, deliveries and attempts through SQLAlchemy: the API's
reads and writes, and the worker's on any database. (PostgreSQL's hot-path statements
that write events live with the gateway's other ones, in its store adapter.)"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.services.gateway.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# Core statements on the table itself: the hot path needs no ORM objects.
_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_ATTEMPTS = cast(Table, WebhookAttempt.__table__)


class EndpointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.session.add(endpoint)

    async def get(self, endpoint_id: uuid.UUID, *, lock: bool = False) -> WebhookEndpoint | None:
        stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(self, *, offset: int, limit: int) -> tuple[list[WebhookEndpoint], int]:
        stmt = (
            select(WebhookEndpoint)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            .offset(offset)
            .limit(limit)
        )
        total = await self.session.scalar(select(func.count()).select_from(WebhookEndpoint))
        return list((await self.session.scalars(stmt)).all()), int(total or 0)

    async def with_due_work(self, now: datetime) -> list[WebhookEndpoint]:
        """The enabled endpoints with a delivery due by ``now``."""
        due = exists().where(
            WebhookDelivery.endpoint_id == WebhookEndpoint.id,
            WebhookDelivery.state == PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        stmt = select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True), due)
        return list((await self.session.scalars(stmt)).all())

    async def enabled(self) -> list[WebhookEndpoint]:
        stmt = select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
        return list((await self.session.scalars(stmt)).all())

    async def many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, WebhookEndpoint]:
        if not ids:
            return {}
        stmt = select(WebhookEndpoint).where(WebhookEndpoint.id.in_(list(ids)))
        return {e.id: e for e in (await self.session.scalars(stmt)).all()}

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        # Its attempts and deliveries first: SQLite enforces the cascade only where
        # foreign keys are on, and they must not outlive their endpoint anywhere.
        await self.session.execute(
            delete(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id)
        )
        await self.session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
        )
        await self.session.delete(endpoint)


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_if_listened(self, rows: Sequence[dict[str, Any]]) -> None:
        listened = await self.session.scalar(
            select(exists().where(WebhookEndpoint.enabled.is_(True)))
        )
        if listened:
            await self.session.execute(insert(WebhookEvent), list(rows))

    async def claim(self, limit: int) -> list[WebhookEvent]:
        """The oldest events, locked (on a database that locks rows) and passed over by
        another worker; ``remove`` them in the same transaction."""
        stmt = (
            select(WebhookEvent)
            .order_by(WebhookEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(stmt)).all())

    async def remove(self, ids: Sequence[int]) -> None:
        if ids:
            await self.session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(list(ids))))

    async def backlog(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(_DELIVERIES), list(rows))

    async def get(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        return await self.session.get(WebhookDelivery, delivery_id)

    async def claim(
        self, endpoint_id: uuid.UUID, now: datetime, limit: int, until: datetime
    ) -> list[Row[Any]]:
        """Up to ``limit`` of the endpoint's deliveries due by ``now``, oldest first,
        leased until ``until`` (taken again then, if not settled before), in one
        statement; another worker's are passed over (SKIP LOCKED)."""
        table = _DELIVERIES
        due = (
            select(table.c.id)
            .where(
                table.c.endpoint_id == endpoint_id,
                table.c.state == PENDING,
                table.c.next_attempt_at <= now,
            )
            .order_by(table.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(table)
            .where(table.c.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=until)
            .returning(
                table.c.id, table.c.event_id, table.c.type, table.c.payload, table.c.attempts
            )
        )
        return list((await self.session.execute(stmt)).all())

    async def present(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of ``ids`` still exist (their endpoint may have been deleted), locked."""
        stmt = (
            select(WebhookDelivery.id)
            .where(WebhookDelivery.id.in_(list(ids)))
            .order_by(WebhookDelivery.id)
            .with_for_update()
        )
        return set((await self.session.scalars(stmt)).all())

    async def settle(self, rows: Sequence[dict[str, Any]]) -> None:
        """Each delivery's state after an attempt (``b_id``, ``state``, ``attempts``,
        ``next_attempt_at``, ``last_error``, ``updated_at``), in one executemany."""
        if rows:
            table = _DELIVERIES
            stmt = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({k: bindparam(k) for k in rows[0] if k != "b_id"})
            )
            await self.session.execute(stmt, list(rows))

    async def backlog(self) -> int:
        stmt = select(func.count()).where(WebhookDelivery.state == PENDING)
        return int(await self.session.scalar(stmt) or 0)


class AttemptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(_ATTEMPTS), list(rows))

    async def page(
        self, endpoint_id: uuid.UUID, *, offset: int, limit: int
    ) -> tuple[list[WebhookAttempt], int]:
        """An endpoint's attempts, newest first."""
        where = WebhookAttempt.endpoint_id == endpoint_id
        stmt = (
            select(WebhookAttempt)
            .where(where)
            .order_by(WebhookAttempt.id.desc())
            .offset(offset)
            .limit(limit)
        )
        total = await self.session.scalar(select(func.count()).where(where))
        return list((await self.session.scalars(stmt)).all()), int(total or 0)
