"""Keeps the queue-depth and outbox-backlog gauges current for /metrics."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from herald.domain.messages import FAILED_QUEUE, STATUS_QUEUE, WORK_QUEUES
from herald.kit.aio import Background
from herald.kit.metrics import QUEUE_DEPTH
from herald.ports import Broker, BrokerUnavailable
from herald.services.gateway.relay import OutboxRelay

log = structlog.get_logger(__name__)
QUEUES = (*WORK_QUEUES.values(), STATUS_QUEUE, FAILED_QUEUE)


async def depths(broker: Broker) -> dict[str, int | None]:
    """Each queue's depth; None where the broker could not say."""
    found: dict[str, int | None] = {}
    for queue in QUEUES:
        found[queue] = None
        with contextlib.suppress(BrokerUnavailable, OSError):
            found[queue] = await broker.depth(queue)
    return found


class Gauges:
    def __init__(self, broker: Broker, relay: OutboxRelay, *, every: float = 5.0) -> None:
        self._broker = broker
        self._relay = relay
        self._every = every
        self._loop = Background()

    async def refresh(self) -> None:
        await self._relay.backlog()
        for queue, depth in (await depths(self._broker)).items():
            if depth is not None:
                QUEUE_DEPTH.labels(queue).set(depth)

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # a metric must never take the gateway down
                log.warning("metrics.refresh_failed", error=str(exc))
            await asyncio.sleep(self._every)

    async def start(self) -> None:
        self._loop.start(self._run())

    async def stop(self) -> None:
        await self._loop.stop()
