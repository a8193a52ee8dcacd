"""The workers' record of what they delivered: a redelivered message whose notification
is already in the ledger is acknowledged without sending again (effectively once).

Look-ups and records from concurrent deliveries are grouped: one query answers every
delivery that asked while the previous one ran, and one transaction records them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.batch import Batcher
from herald.kit.db import HeraldBase, array_of, insert_new, one_of, single_statements, utcnow


class LedgerColumns:
    """Mixed into each worker's own ledger table."""

    notification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ledger:
    def __init__(self, engine: AsyncEngine, model: type[HeraldBase]) -> None:
        self._engine = engine
        assert isinstance(model.__table__, Table)
        self._table = model.__table__
        self._lookups: Batcher[uuid.UUID, bool] = Batcher("ledger look-ups", self._find)
        self._records: Batcher[uuid.UUID, None] = Batcher("ledger records", self._record)

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
        column = self._table.c.notification_id
        # Core on a bare connection: the ORM's session costs more CPU than the query.
        async with single_statements(self._engine) as conn:
            found = set(await conn.scalars(select(column).where(one_of(conn, column, ids))))
        return [i in found for i in ids]

    async def _record(self, ids: Sequence[uuid.UUID]) -> list[None]:
        unique = list(dict.fromkeys(ids))
        async with single_statements(self._engine) as conn:
            # Recorded already by an earlier delivery of the same message: left alone.
            insert = insert_new(conn, self._table, "notification_id")
            if conn.dialect.name == "postgresql":
                # One statement text for any number of rows (see one_of).
                column = self._table.c.notification_id
                rows = select(func.unnest(array_of(column, unique)), func.now())
                await conn.execute(insert.from_select(["notification_id", "delivered_at"], rows))
            else:
                now = utcnow()
                await conn.execute(
                    insert, [{"notification_id": i, "delivered_at": now} for i in unique]
                )
        return [None] * len(ids)
