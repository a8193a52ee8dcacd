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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.batch import Batcher
from herald.kit.db import HeraldBase, insert_new, unit_of_work, utcnow


class LedgerColumns:
    """Mixed into each worker's own ledger table."""

    notification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ledger:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], model: type[HeraldBase]) -> None:
        self._sessions = sessions
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
        async with unit_of_work(self._sessions) as session:
            found = set(await session.scalars(select(column).where(column.in_(set(ids)))))
        return [i in found for i in ids]

    async def _record(self, ids: Sequence[uuid.UUID]) -> list[None]:
        now = utcnow()
        rows = [{"notification_id": i, "delivered_at": now} for i in dict.fromkeys(ids)]
        async with unit_of_work(self._sessions) as session:
            # Recorded already by an earlier delivery of the same message: left alone.
            await session.execute(insert_new(session, self._table, "notification_id"), rows)
        return [None] * len(ids)
