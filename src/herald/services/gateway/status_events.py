"""Status events from the workers, applied to notifications in batches.

Each delivery waits for the batch it joined to commit before it is acked, so an event
is never acknowledged before it is recorded.
"""

from __future__ import annotations

import asyncio

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.domain.messages import STATUS_QUEUE, DeliveryStatusChanged
from herald.kit.aio import Background, within
from herald.kit.db import unit_of_work
from herald.ports import Broker, Delivery
from herald.services.gateway.handlers import apply_events

log = structlog.get_logger(__name__)


class StatusApplier:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: Broker,
        *,
        batch_size: int = 200,
        linger: float = 0.02,
    ) -> None:
        self._sessions = sessions
        self._broker = broker
        self._batch = batch_size
        self._linger = linger
        self._pending: asyncio.Queue[tuple[DeliveryStatusChanged, asyncio.Future[None]]] = (
            asyncio.Queue()
        )
        self._loop = Background()

    async def start(self) -> None:
        self._loop.start(self._run())
        await self._broker.consume(STATUS_QUEUE, self.handle, prefetch=self._batch * 2)

    async def stop(self) -> None:
        await self._loop.stop()
        # Events still waiting were never recorded: their deliveries go back to the queue.
        while not self._pending.empty():
            _, done = self._pending.get_nowait()
            if not done.done():
                done.set_exception(RuntimeError("stopping"))

    async def handle(self, delivery: Delivery) -> None:
        try:
            event = DeliveryStatusChanged.model_validate_json(delivery.body)
        except ValidationError as exc:
            await delivery.dead_letter(attempts=delivery.attempts, error=f"invalid event: {exc}")
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._pending.put((event, done))
        await done  # raises when the batch failed: the broker redelivers the event
        await delivery.ack()

    async def _run(self) -> None:
        while True:
            batch = [await self._pending.get()]
            try:
                await self._collect(batch)
                async with unit_of_work(self._sessions) as session:
                    await apply_events(session, [e for e, _ in batch])
            except asyncio.CancelledError:
                self._settle(batch, RuntimeError("stopping"))
                raise
            except Exception as exc:
                log.exception("status.apply_failed", size=len(batch))
                self._settle(batch, exc)
                await asyncio.sleep(0.5)
                continue
            self._settle(batch, None)

    async def _collect(
        self,
        batch: list[tuple[DeliveryStatusChanged, asyncio.Future[None]]],
    ) -> None:
        """Wait up to ``linger`` for more events to join the batch."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger
        while len(batch) < self._batch:
            timeout = deadline - loop.time()
            if timeout <= 0:
                return
            item = await within(timeout, self._pending.get())
            if item is None:
                return
            batch.append(item)

    @staticmethod
    def _settle(
        batch: list[tuple[DeliveryStatusChanged, asyncio.Future[None]]], error: BaseException | None
    ) -> None:
        for _, done in batch:
            if done.done():
                continue
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
