"""Status events from the workers, applied to notifications in batches.

Each delivery waits for the batch it joined to commit before it is acked, so an event
is never acknowledged before it is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald.domain.messages import STATUS_QUEUE, DeliveryStatusChanged, status_events
from herald.kit.batch import Batcher
from herald.kit.db import postgres_driver
from herald.ports import Broker, Delivery
from herald.services.gateway.handlers import apply_events
from herald.services.gateway.models import Notification
from herald.services.gateway.repositories import (
    HISTORY_SQL,
    LOCK_SQL,
    MOVE_SQL,
    NotificationRepository,
    history_arguments,
    move_arguments,
)


class StatusApplier:
    def __init__(
        self,
        engine: AsyncEngine,
        broker: Broker,
        *,
        batch_size: int = 200,
        linger: float = 0.02,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._prefetch = batch_size * 2
        self._batcher: Batcher[DeliveryStatusChanged, None] = Batcher(
            "status events",
            self._apply,
            max_size=batch_size,
            linger=linger,
            pause_after_error=0.5,
        )

    async def start(self) -> None:
        await self._batcher.start()
        await self._broker.consume(STATUS_QUEUE, self.handle, prefetch=self._prefetch)

    async def stop(self) -> None:
        # Events still waiting were never recorded: their deliveries go back to the queue.
        await self._batcher.stop()

    async def handle(self, delivery: Delivery) -> None:
        try:
            events = status_events(delivery.body)
        except ValidationError as exc:
            await delivery.dead_letter(attempts=delivery.attempts, error=f"invalid event: {exc}")
            return
        # Raises when a batch failed: the message is redelivered with all its events.
        # Those already applied change nothing the second time, except that a retry
        # ("pending") may then show twice in the history.
        await asyncio.gather(*(self._batcher.submit(event) for event in events))
        await delivery.ack()

    async def _apply(self, events: Sequence[DeliveryStatusChanged]) -> list[None]:
        ids = sorted({e.notification_id for e in events})  # locked in one order
        async with self._engine.connect() as conn:
            driver = await postgres_driver(conn)
            if driver is not None:
                async with driver.transaction():
                    # Plain objects, in no session: only the statements below write.
                    found = {r["id"]: Notification(**r) for r in await driver.fetch(LOCK_SQL, ids)}
                    changed, entries = apply_events(found, events)
                    if changed:
                        await driver.execute(MOVE_SQL, *move_arguments(changed))
                        await driver.execute(HISTORY_SQL, *history_arguments(entries))
            else:
                async with AsyncSession(conn) as session, session.begin():
                    repo = NotificationRepository(session)
                    changed, entries = apply_events(await repo.many(ids), events)
                    repo.add(*entries)
        return [None] * len(events)
