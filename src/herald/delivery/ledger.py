"""The workers' record of what they delivered: a redelivered message whose notification
is already in the ledger is acknowledged without sending again (effectively once).

Look-ups and records from concurrent deliveries are grouped: one query answers every
delivery that asked while the previous one ran, and one transaction records them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from herald.domain.clock import utcnow
from herald.kit.batch import Batcher
from herald.ports import LedgerStore


class LedgerColumns:
    """Mixed into each worker's own ledger table."""

    notification_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ledger:
    def __init__(self, store: LedgerStore) -> None:
        self._store = store
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
        found = await self._store.delivered(list(dict.fromkeys(ids)))
        return [i in found for i in ids]

    async def _record(self, ids: Sequence[uuid.UUID]) -> list[None]:
        await self._store.record(list(dict.fromkeys(ids)))
        return [None] * len(ids)
