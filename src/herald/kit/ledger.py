"""The workers' record of what they delivered: a redelivered message whose notification
is already in the ledger is acknowledged without sending again (effectively once)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.db import HeraldBase, unit_of_work, utcnow


class LedgerColumns:
    """Mixed into each worker's own ledger table."""

    notification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ledger:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], model: type[HeraldBase]) -> None:
        self._sessions = sessions
        assert isinstance(model.__table__, Table)
        self._table = model.__table__

    async def delivered(self, notification_id: uuid.UUID) -> bool:
        async with unit_of_work(self._sessions) as session:
            found = await session.scalar(
                select(self._table.c.notification_id).where(
                    self._table.c.notification_id == notification_id
                )
            )
        return found is not None

    async def record(self, notification_id: uuid.UUID) -> None:
        try:
            async with unit_of_work(self._sessions) as session:
                await session.execute(
                    insert(self._table).values(
                        notification_id=notification_id, delivered_at=utcnow()
                    )
                )
        except IntegrityError:
            pass  # recorded by an earlier delivery of the same message
