"""Stores accepted notifications in group commits.

Each notification is three rows (the notification, its first history entry, its outbox
message) that must commit together; requests arriving together share one transaction
instead of paying for one each. A request_id already stored is left alone and its
request is answered as a replay. On PostgreSQL the whole batch is one statement.

A row the database refuses (what validation let through and PostgreSQL cannot store)
must not fail the requests that happened to share its transaction: the batch is then
stored one notification at a time, and only the refused one gets a 422.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from herald.domain.errors import HeraldError
from herald.kit.batch import Batcher
from herald.ports import RowRefused
from herald.services.gateway.admission import Admission
from herald.services.gateway.relay import OutboxRelay
from herald.services.gateway.store import GatewayStore

log = structlog.get_logger(__name__)


class Intake:
    def __init__(
        self,
        store: GatewayStore,
        relay: OutboxRelay,
        *,
        on_scheduled: Callable[[], None] = lambda: None,
        batch_size: int = 200,
    ) -> None:
        self._store_port = store
        self._relay = relay
        self._on_scheduled = on_scheduled
        self._batcher: Batcher[Admission, bool | HeraldError] = Batcher(
            "accepted notifications", self._store, max_size=batch_size
        )

    async def start(self) -> None:
        await self._batcher.start()

    async def stop(self) -> None:
        await self._batcher.stop()

    async def admit(self, admission: Admission) -> bool:
        """Store it; False when its request_id was already used (a replay)."""
        stored = await self._batcher.submit(admission)
        if isinstance(stored, HeraldError):
            raise stored
        return stored

    async def admit_together(self, batch: list[Admission]) -> list[bool | HeraldError]:
        """Store a client's batch in one transaction, now: for each, True when stored,
        False for a request_id already used, or the error that refused it."""
        return await self._store(batch) if batch else []

    async def _store(self, batch: list[Admission]) -> list[bool | HeraldError]:
        try:
            return list(await self._store_all(batch))
        except RowRefused as exc:
            if len(batch) == 1:
                return [_refused(exc)]
        results: list[bool | HeraldError] = []
        for admission in batch:
            try:
                results += await self._store_all([admission])
            except RowRefused as exc:
                results.append(_refused(exc))
        return results

    async def _store_all(self, batch: list[Admission]) -> list[bool]:
        inserted = await self._store_port.admit(batch)
        if any(a.outbox and a.notification.id in inserted for a in batch):
            self._relay.wake()
        if any((a.schedule or a.digest) and a.notification.id in inserted for a in batch):
            self._on_scheduled()
        return [a.notification.id in inserted for a in batch]


def _refused(exc: RowRefused) -> HeraldError:
    log.warning("notifications.refused_by_database", error=str(exc))
    return HeraldError.invalid(f"the notification cannot be stored: {exc}")
