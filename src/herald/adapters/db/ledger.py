"""A worker's delivery ledger table: SQLAlchemy for any database, and two fixed
statements on the asyncpg connection for PostgreSQL, where the ids go in as one array
so each statement is prepared once per connection."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.adapters.db.engine import single_statements
from herald.domain.clock import utcnow
from herald.kit.db import insert_new


class SqlLedgerStore:
    def __init__(self, engine: AsyncEngine, table: Table) -> None:
        self._engine = engine
        self._table = table

    async def delivered(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        column = self._table.c.notification_id
        async with self._engine.connect() as conn:
            found = set(await conn.scalars(select(column).where(column.in_(ids))))
            await conn.commit()
        return found

    async def record(self, ids: Sequence[uuid.UUID]) -> None:
        now = utcnow()
        async with self._engine.connect() as conn:
            # Recorded already by an earlier delivery of the same message: left alone.
            await conn.execute(
                insert_new(conn, self._table, "notification_id"),
                [{"notification_id": i, "delivered_at": now} for i in ids],
            )
            await conn.commit()


class PostgresLedgerStore(SqlLedgerStore):
    def __init__(self, engine: AsyncEngine, table: Table) -> None:
        super().__init__(engine, table)
        name = table.name
        self._find_sql = f"SELECT notification_id FROM {name} WHERE notification_id = ANY($1)"
        self._record_sql = (
            f"INSERT INTO {name} (notification_id, delivered_at) "
            "SELECT unnest($1::uuid[]), now() ON CONFLICT (notification_id) DO NOTHING"
        )

    async def delivered(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        async with self._engine.connect() as conn, single_statements(conn) as driver:
            rows = await driver.fetch(self._find_sql, list(ids))
        return {r[0] for r in rows}  # asyncpg's UUID is a uuid.UUID

    async def record(self, ids: Sequence[uuid.UUID]) -> None:
        async with self._engine.connect() as conn, single_statements(conn) as driver:
            await driver.execute(self._record_sql, list(ids))
