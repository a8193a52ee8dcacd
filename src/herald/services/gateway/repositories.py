from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
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


# The hot path's statements on PostgreSQL, run on the asyncpg connection: one fixed text
# each whatever the batch size (prepared once per connection), with each column sent as
# one array. SQLAlchemy's bulk ORM inserts cost several times the CPU for the same rows.

# Every column of a notification row, by the attribute name an accepted notification's
# dict uses, with its column name and the type its array is sent as.
_NOTIFICATION_COLUMNS = (
    ("id", "id", "uuid"),
    ("api_key_id", "api_key_id", "uuid"),
    ("request_id", "request_id", "text"),
    ("request_hash", "request_hash", "text"),
    ("channel", "channel", "text"),
    ("user_id", "user_id", "uuid"),
    ("template_code", "template_code", "text"),
    ("template_version", "template_version", "int"),
    ("locale", "locale", "text"),
    ("variables", "variables", "json"),
    ("priority", "priority", "int"),
    ("extra", "metadata", "json"),
    ("recipient", "recipient", "json"),
    ("status", "status", "text"),
    ("initial_status", "initial_status", "text"),
    ("attempts", "attempts", "int"),
    ("last_error", "last_error", "text"),
    ("correlation_id", "correlation_id", "text"),
    ("created_at", "created_at", "timestamptz"),
    ("updated_at", "updated_at", "timestamptz"),
)
_BODIES = len(_NOTIFICATION_COLUMNS) + 1

# One statement stores a whole batch: the notifications whose request_id is new, then
# for exactly those their first history entry and (unless skipped) their outbox message.
# Both are derived from the inserted row, as the SQLite path's dicts are (handlers'
# ``admission``): entry = (status, attempt 0, last_error, created_at); message = channel
# as routing key, priority, id as message id, correlation id, created_at.
ADMIT_SQL = f"""
WITH n AS (
    INSERT INTO notifications ({", ".join(column for _, column, _ in _NOTIFICATION_COLUMNS)})
    SELECT * FROM unnest({
    ", ".join(f"${i}::{kind}[]" for i, (_, _, kind) in enumerate(_NOTIFICATION_COLUMNS, 1))
})
    ON CONFLICT (api_key_id, request_id) DO NOTHING
    RETURNING id, channel, priority, status, last_error, correlation_id, created_at
), e AS (
    INSERT INTO notification_events (notification_id, status, attempt, error, "timestamp")
    SELECT id, status, 0, last_error, created_at FROM n
), o AS (
    INSERT INTO outbox (routing_key, body, priority, message_id, correlation_id, created_at)
    SELECT n.channel, b.body, n.priority, n.id::text, n.correlation_id, n.created_at
    FROM n JOIN unnest(${_BODIES}::uuid[], ${_BODIES + 1}::bytea[]) AS b (id, body)
        ON b.id = n.id
)
SELECT id FROM n
"""

# Rows are claimed by deleting them in the transaction that publishes them: a failed
# publish rolls the delete back. SKIP LOCKED lets gateway replicas relay side by side.
CLAIM_SQL = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
)
RETURNING id, routing_key, body, priority, message_id, correlation_id
"""


def admit_arguments(
    notifications: Sequence[Mapping[str, Any]], bodies: Mapping[uuid.UUID, bytes]
) -> list[list[Any]]:
    """ADMIT_SQL's arguments: a column array per notification column, then the
    outbox bodies by notification id."""
    columns: list[list[Any]] = []
    for name, _, kind in _NOTIFICATION_COLUMNS:
        values = [n[name] for n in notifications]
        # As SQLAlchemy's JSON type stores them: None becomes JSON null.
        columns.append([json.dumps(v) for v in values] if kind == "json" else values)
    columns.append(list(bodies))
    columns.append(list(bodies.values()))
    return columns


# Status events: the notifications they name are locked (in id order, as every batch
# locks them), moved in Python, then written back and their history added.
LOCK_SQL = """
SELECT id, channel, status, attempts, last_error FROM notifications
WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
"""
MOVE_SQL = """
UPDATE notifications AS n
SET status = u.status, attempts = u.attempts, last_error = u.last_error, updated_at = u.at
FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[])
    AS u (id, status, attempts, last_error, at)
WHERE n.id = u.id
"""
HISTORY_SQL = """
INSERT INTO notification_events (notification_id, status, attempt, error, "timestamp")
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[])
"""


def move_arguments(changed: Sequence[Notification]) -> list[list[Any]]:
    return [
        [n.id for n in changed],
        [n.status for n in changed],
        [n.attempts for n in changed],
        [n.last_error for n in changed],
        [n.updated_at for n in changed],
    ]


def history_arguments(entries: Sequence[NotificationEvent]) -> list[list[Any]]:
    return [
        [e.notification_id for e in entries],
        [e.status for e in entries],
        [e.attempt for e in entries],
        [e.error for e in entries],
        [e.timestamp for e in entries],
    ]
