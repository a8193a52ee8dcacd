"""The workers' record of what they delivered: a redelivered message whose notification
is already in the ledger is acknowledged without sending again (effectively once).

Look-ups and records from concurrent deliveries are grouped: one query answers every
delivery that asked while the previous one ran, and one transaction records them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.batch import Batcher
from herald.kit.db import HeraldBase, insert_new, postgres_driver, utcnow


class LedgerColumns:
    """Mixed into each worker's own ledger table."""

    notification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ledger:
    def __init__(self, engine: AsyncEngine, model: type[HeraldBase]) -> None:
        self._engine = engine
        assert isinstance(model.__table__, Table)
        self._table = model.__table__
        # On PostgreSQL: one statement text whatever the batch size (prepared once per
        # connection), with the ids as one array. ``ON CONFLICT``: recorded already by
        # an earlier delivery of the same message, left alone.
        name = self._table.name
        self._find_sql = f"SELECT notification_id FROM {name} WHERE notification_id = ANY($1)"
        self._record_sql = (
            f"INSERT INTO {name} (notification_id, delivered_at) "
            "SELECT unnest($1::uuid[]), now() ON CONFLICT (notification_id) DO NOTHING"
        )
        self._lookups: Batcher[uuid.UUID, bool] = Batcher("ledger look-ups", self._find)
        # A record is a commit: waiting 5 ms for company saves most of them at a few
        # hundred deliveries a second (the status event it runs beside waits longer).
        self._records: Batcher[uuid.UUID, None] = Batcher(
            "ledger records", self._record, linger=0.005
        )

    async def start(self) -> None:
        await self._lookups.start()
        await self._records.start()

    async def stop(self) -> None:
        await self._lookups.stop()
        await self._records.stop()

    async def delivered(self, notification_id: uuid.UUID) -> bool:
        return await self._lookups.submit(notification_id)

    async def record(self, notification_id: uuid.UUID) -> None:
        await self._records.submit(notification_id)

    async def _find(self, ids: Sequence[uuid.UUID]) -> list[bool]:
        unique = list(dict.fromkeys(ids))
        async with self._engine.connect() as conn:
            driver = await postgres_driver(conn)
            if driver is not None:
                rows = await driver.fetch(self._find_sql, unique)
                found = {r[0] for r in rows}  # asyncpg's UUID is a uuid.UUID
            else:
                column = self._table.c.notification_id
                found = set(await conn.scalars(select(column).where(column.in_(unique))))
                await conn.commit()
        return [i in found for i in ids]

    async def _record(self, ids: Sequence[uuid.UUID]) -> list[None]:
        unique = list(dict.fromkeys(ids))
        async with self._engine.connect() as conn:
            driver = await postgres_driver(conn)
            if driver is not None:
                await driver.execute(self._record_sql, unique)  # commits by itself
            else:
                # Recorded already by an earlier delivery of the same message: left alone.
                now = utcnow()
                await conn.execute(
                    insert_new(conn, self._table, "notification_id"),
                    [{"notification_id": i, "delivered_at": now} for i in unique],
                )
                await conn.commit()
        return [None] * len(ids)
