"""Status events from the workers, applied to notifications in batches.

Each delivery waits for the batch it joined to commit before it is acked, so an event
is never acknowledged before it is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import ValidationError

from herald.domain.messages import STATUS_QUEUE, DeliveryStatusChanged, status_events
from herald.kit.batch import Batcher
from herald.ports import Broker, Delivery
from herald.services.gateway.store import GatewayStore
from herald.services.gateway.tracking import apply_events


class StatusApplier:
    def __init__(
        self,
        store: GatewayStore,
        broker: Broker,
        *,
        batch_size: int = 200,
        linger: float = 0.02,
    ) -> None:
        self._store = store
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
        await self._store.apply_statuses(ids, lambda found: apply_events(found, events))
        return [None] * len(events)
