"""The gateway's storage port on PostgreSQL: the hot path's statements run on the
asyncpg connection under SQLAlchemy's pool, one fixed text each whatever the batch size
(prepared once per connection) with each column sent as one array. SQLAlchemy's bulk
ORM inserts cost several times the CPU for the same rows. Reads it shares with the
SQLAlchemy adapter it extends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from pydantic_core import to_json
from sqlalchemy import JSON, DateTime, Integer, String, TypeDecorator, Uuid, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from herald.adapters.db.engine import postgres_driver, single_statements
from herald.adapters.db.gateway_sql import SqlGatewayStore, refused
from herald.domain import webhooks
from herald.domain.clock import utcnow
from herald.ports import StoreUnavailable
from herald.services.gateway.admission import Admission, NotificationRow
from herald.services.gateway.fanout import Progress
from herald.services.gateway.models import Notification, NotificationEvent
from herald.services.gateway.store import Children, Mover, OutboxRow, Released
from herald.services.gateway.webhooks import events as webhook_events


# Every column of a notification row, read from the model (the one list of them): the
# attribute name an accepted notification's dict uses, the column name, and the type
# its array is sent as.
def _array_type(column_type: TypeEngine[Any]) -> str:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    for kind, name in _ARRAY_TYPES:
        if isinstance(column_type, kind):
            return name
    raise TypeError(f"no array type for a {column_type!r} column")


_ARRAY_TYPES: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (Uuid, "uuid"),
    (DateTime, "timestamptz"),
    (JSON, "json"),
    (Integer, "int"),
    (String, "text"),
)
_NOTIFICATION_COLUMNS = tuple(
    (attr.key, attr.columns[0].name, _array_type(attr.columns[0].type))
    for attr in Notification.__mapper__.column_attrs
)
_BODIES = len(_NOTIFICATION_COLUMNS) + 1

# One statement stores a whole batch: the notifications whose request_id is new, then
# for exactly those their first history entry and their message: in the outbox if it
# goes now, in the schedules if it waits for a time (a digest's member waits in its
# window, which the transaction joined first). The rows are derived from the inserted
# row, as the SQLAlchemy adapter's dicts are (``admission``): entry = (status, attempt 0,
# last_error, created_at); message = channel as routing key, priority, id as message
# id, correlation id, created_at; schedule = (id, send_at); webhook event = (the type
# ``webhooks.event_type`` gives its first entry, status, last_error), written only while
# an endpoint is enabled.
ADMIT_SQL = f"""
WITH n AS (
    INSERT INTO notifications ({", ".join(column for _, column, _ in _NOTIFICATION_COLUMNS)})
    SELECT * FROM unnest({
    ", ".join(f"${i}::{kind}[]" for i, (_, _, kind) in enumerate(_NOTIFICATION_COLUMNS, 1))
})
    ON CONFLICT (api_key_id, request_id) DO NOTHING
    RETURNING id, channel, priority, status, last_error, correlation_id, created_at,
        send_at, digest_id
), b AS (
    SELECT * FROM unnest(${_BODIES}::uuid[], ${_BODIES + 1}::bytea[]) AS b (id, body)
), e AS (
    INSERT INTO notification_events (notification_id, status, attempt, error, "timestamp")
    SELECT id, status, 0, last_error, created_at FROM n
), o AS (
    INSERT INTO outbox (routing_key, body, priority, message_id, correlation_id, created_at)
    SELECT n.channel, b.body, n.priority, n.id::text, n.correlation_id, n.created_at
    FROM n JOIN b ON b.id = n.id
    WHERE n.status = 'pending'
), s AS (
    INSERT INTO schedules (id, due_at, body)
    SELECT n.id, n.send_at, b.body FROM n LEFT JOIN b ON b.id = n.id
    WHERE n.status = 'scheduled' AND n.digest_id IS NULL
), w AS (
    INSERT INTO webhook_events
        (notification_id, type, status, error, attempts, provider_response, "timestamp")
    SELECT n.id, t.type, n.status, n.last_error, 0, NULL, n.created_at
    FROM n JOIN unnest(${_BODIES + 2}::uuid[], ${_BODIES + 3}::text[]) AS t (id, type)
        ON t.id = n.id
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
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
    notifications: Sequence[NotificationRow], bodies: Mapping[uuid.UUID, bytes]
) -> list[list[Any]]:
    """ADMIT_SQL's arguments: a column array per notification column, then the
    outbox bodies by notification id, then each notification's webhook event type."""
    columns: list[list[Any]] = []
    for name, _, kind in _NOTIFICATION_COLUMNS:
        values = [getattr(n, name) for n in notifications]
        # As SQLAlchemy's JSON type stores them: None becomes JSON null. pydantic's
        # encoder writes the same JSON a few times faster than the json module.
        columns.append([to_json(v).decode() for v in values] if kind == "json" else values)
    columns.append(list(bodies))
    columns.append(list(bodies.values()))
    columns.append([n.id for n in notifications])
    columns.append([webhooks.event_type(n.status, first=True) for n in notifications])
    return columns


# Status events: the notifications they name are locked (in id order, as every batch
# locks them), moved in Python, then written back and their history added.
LOCK_SQL = """
SELECT id, channel, status, attempts, last_error, digest_id FROM notifications
WHERE id = ANY($1::uuid[]) OR digest_id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
"""

# Due schedules released in one statement: claimed by deleting them (SKIP LOCKED, so
# replicas take different ones), their notifications still scheduled made pending with
# a history entry and, unless a topic send (no body), an outbox message.
RELEASE_SQL = """
WITH due AS (
    DELETE FROM schedules WHERE id IN (
        SELECT id FROM schedules WHERE due_at <= $1 ORDER BY due_at LIMIT $2
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, body
), moved AS (
    UPDATE notifications AS n SET status = 'pending', updated_at = $3
    FROM due WHERE n.id = due.id AND n.status = 'scheduled'
    RETURNING n.id, n.channel, n.priority, n.correlation_id, n.topic, due.body
), e AS (
    INSERT INTO notification_events (notification_id, status, attempt, error, "timestamp")
    SELECT id, 'pending', 0, NULL, $3 FROM moved
), o AS (
    INSERT INTO outbox (routing_key, body, priority, message_id, correlation_id, created_at)
    SELECT channel, body, priority, id::text, correlation_id, $3 FROM moved
    WHERE body IS NOT NULL
)
SELECT (SELECT count(*) FROM due), count(body), count(topic) FROM moved
"""
MOVE_SQL = """
UPDATE notifications AS n
SET status = u.status, attempts = u.attempts, last_error = u.last_error, updated_at = u.at
FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[])
    AS u (id, status, attempts, last_error, at)
WHERE n.id = u.id
"""
HISTORY_SQL = """
INSERT INTO notification_events
    (notification_id, status, attempt, error, "timestamp", provider_response)
SELECT * FROM unnest(
    $1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::text[]
)
"""
# The webhook events status changes make, while an endpoint is enabled.
EVENTS_SQL = """
INSERT INTO webhook_events
    (notification_id, type, status, error, attempts, provider_response, "timestamp")
SELECT * FROM unnest(
    $1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::timestamptz[]
)
WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
"""


async def _admit(driver: Any, batch: Sequence[Admission]) -> set[uuid.UUID]:
    bodies = {a.notification.id: body for a in batch if (body := _body(a)) is not None}
    arguments = admit_arguments([a.notification for a in batch], bodies)
    try:
        rows = await driver.fetch(ADMIT_SQL, *arguments)
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
        raise refused(exc) from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(str(exc)) from exc
    return {r[0] for r in rows}


def _body(a: Admission) -> bytes | None:
    if a.outbox is not None:
        return a.outbox.body
    return None if a.schedule is None else a.schedule.body


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
        [e.provider_response for e in entries],
    ]


def events_arguments(made: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    return [[r[c] for r in made] for c in _EVENT_COLUMNS]


_EVENT_COLUMNS = (
    "notification_id",
    "type",
    "status",
    "error",
    "attempts",
    "provider_response",
    "timestamp",
)


class PostgresGatewayStore(SqlGatewayStore):
    async def admit(self, batch: Sequence[Admission]) -> set[uuid.UUID]:
        if any(a.digest is not None for a in batch):
            return await super().admit(batch)  # windows joined in the same transaction
        async with self._engine.connect() as conn, single_statements(conn) as driver:
            return await _admit(driver, batch)  # commits by itself

    async def _lock_group(self, session: AsyncSession, key: str) -> None:
        # Held to the transaction's end: the group's second member waits, then joins
        # the window the first opened.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )

    async def release_due(self, now: datetime, limit: int) -> Released:
        async with self._engine.connect() as conn:
            try:
                async with single_statements(conn) as driver:
                    found = await driver.fetchrow(RELEASE_SQL, now, limit, utcnow())
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise StoreUnavailable(str(exc)) from exc
            claimed, queued, topics = found
            return Released(claimed, queued, topics)

    async def fan_out(self, page_size: int, children: Children) -> Progress | None:
        # One transaction holds the send locked while its children are built: another
        # replica passes it over (SKIP LOCKED) instead of building the same page.
        async with AsyncSession(self._engine) as session, session.begin():
            found = await self._next_page(session, page_size)
            if found is None:
                return None
            parent, user_ids = found
            batch = await children(parent, user_ids)
            return await self._store_page(session, parent, user_ids, batch, page_size)

    async def _insert(self, session: AsyncSession, batch: Sequence[Admission]) -> set[uuid.UUID]:
        # On the session's connection, inside the transaction it has begun.
        await self._join_digests(session, batch)
        return await _admit(await postgres_driver(await session.connection()), batch)

    @asynccontextmanager
    async def claim_outbox(self, limit: int) -> AsyncIterator[list[OutboxRow]]:
        async with self._engine.connect() as conn:
            driver = await postgres_driver(conn)
            async with driver.transaction():
                # Claimed and deleted in one statement; the block raising (a publish that
                # failed) rolls the delete back.
                rows = await driver.fetch(CLAIM_SQL, limit)
                yield sorted((OutboxRow(**dict(r)) for r in rows), key=lambda r: r.id)

    async def apply_statuses(self, ids: Sequence[uuid.UUID], move: Mover) -> None:
        async with self._engine.connect() as conn:
            driver = await postgres_driver(conn)
            async with driver.transaction():
                # Plain objects, in no session: only the statements below write.
                found = {r["id"]: Notification(**r) for r in await driver.fetch(LOCK_SQL, ids)}
                changed, entries = move(found)
                if changed:
                    await driver.execute(MOVE_SQL, *move_arguments(changed))
                    await driver.execute(HISTORY_SQL, *history_arguments(entries))
                    made = webhook_events.rows(entries)
                    if made:
                        await driver.execute(EVENTS_SQL, *events_arguments(made))
