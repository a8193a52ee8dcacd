"""Webhook endpoints, events, deliveries and attempts through SQLAlchemy: the API's
reads and writes, and the worker's on any database. (PostgreSQL's hot-path statements
that write events live with the gateway's other ones, in its store adapter.)"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.services.gateway.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


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
            await self.session.execute(insert(WebhookDelivery), list(rows))

    async def get(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        return await self.session.get(WebhookDelivery, delivery_id)

    async def busy_endpoints(self, now: datetime) -> list[uuid.UUID]:
        """Endpoints (enabled) with a delivery due by ``now``."""
        stmt = (
            select(WebhookDelivery.endpoint_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.state == PENDING,
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.enabled.is_(True),
            )
            .distinct()
        )
        return list((await self.session.scalars(stmt)).all())

    async def due(self, endpoint_id: uuid.UUID, now: datetime, limit: int) -> list[WebhookDelivery]:
        stmt = (
            select(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.state == PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(stmt)).all())

    async def lease(self, ids: Sequence[uuid.UUID], until: datetime) -> None:
        await self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(list(ids)))
            .values(next_attempt_at=until)
        )

    async def settle(self, rows: Sequence[dict[str, Any]]) -> None:
        """Each delivery's state after an attempt (``id``, ``state``, ``attempts``,
        ``next_attempt_at``, ``last_error``, ``updated_at``)."""
        if rows:
            # By primary key, all in one executemany.
            await self.session.execute(update(WebhookDelivery), list(rows))

    async def next_due(self) -> datetime | None:
        stmt = select(func.min(WebhookDelivery.next_attempt_at)).where(
            WebhookDelivery.state == PENDING
        )
        value: datetime | None = await self.session.scalar(stmt)
        return value

    async def backlog(self) -> int:
        stmt = select(func.count()).where(WebhookDelivery.state == PENDING)
        return int(await self.session.scalar(stmt) or 0)


class AttemptRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(WebhookAttempt), list(rows))

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
