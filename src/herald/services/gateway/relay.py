"""The outbox relay: publishes committed outbox rows with publisher confirms.

Rows are deleted only after the broker confirmed them, so a crash between the two
publishes a row twice (never zero times); workers drop the duplicate. While the
broker is unreachable rows wait in the table and the gateway keeps accepting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog

from herald.kit.aio import Background, back_off, within
from herald.kit.metrics import OUTBOX_BACKLOG
from herald.ports import CORRELATION_HEADER, Broker, BrokerUnavailable, Outgoing
from herald.services.gateway.store import GatewayStore, OutboxRow

log = structlog.get_logger(__name__)


class OutboxRelay:
    # Rows claimed, published and deleted in one transaction, at most.
    BATCH_SIZE = 500
    # How long one call of ``give_way`` holds: a scheduler that stops calling (its
    # backlog released, or its database gone) frees the relay by itself.
    GIVE_WAY_SECONDS = 2.0

    def __init__(
        self,
        store: GatewayStore,
        broker: Broker,
        *,
        batch_size: int = BATCH_SIZE,
        idle_seconds: float = 0.5,
        linger_seconds: float = 0.01,
    ) -> None:
        self._store = store
        self._broker = broker
        self._batch = batch_size
        self._idle = idle_seconds
        self._linger = linger_seconds
        self._wake = asyncio.Event()
        self._loop = Background()
        self._yielding_until = 0.0

    def wake(self) -> None:
        self._wake.set()

    def give_way(self) -> None:
        """A backlog of due notifications is being released: for a while, publish one
        batch per wake-up (the scheduler wakes the relay after each round) instead of
        batch after batch. Publishing costs the gateway and the broker more CPU per
        message than releasing costs PostgreSQL, and on shared cores a relay at full
        speed held a release of 100,000 to half its rate; the workers, fed a batch per
        round, still have more than they deliver meanwhile."""
        self._yielding_until = time.monotonic() + self.GIVE_WAY_SECONDS

    async def start(self) -> None:
        self._loop.start(self._run())

    async def stop(self) -> None:
        await self._loop.stop()

    async def relay_once(self) -> int:
        """Publish one batch; return how many rows went out."""
        # The rows leave the outbox only if the broker confirmed them all.
        async with self._store.claim_outbox(self._batch) as rows:
            await self._publish(rows)
        for r in rows:
            log.info(
                "notifications.queued",
                notification_id=r.message_id,
                routing_key=r.routing_key,
                request_id=r.correlation_id,
            )
        return len(rows)

    async def _publish(self, rows: Sequence[OutboxRow]) -> None:
        if not rows:
            return
        await self._broker.publish(
            [
                Outgoing(
                    routing_key=r.routing_key,
                    body=r.body,
                    priority=r.priority,
                    message_id=r.message_id,
                    headers={CORRELATION_HEADER: r.correlation_id} if r.correlation_id else {},
                )
                for r in rows
            ]
        )

    async def _run(self) -> None:
        failures = 0
        while True:
            # Cleared before the claim, not after: rows committed while this batch is
            # being published wake the next round instead of waiting out the idle poll.
            self._wake.clear()
            try:
                sent = await self.relay_once()
                failures = 0
            except (BrokerUnavailable, OSError) as exc:
                failures += 1
                log.warning("outbox.relay.publish_failed", error=str(exc), failures=failures)
                await back_off(failures, 2.0)
                continue
            except Exception:
                # The database is unreachable or a row is broken: keep trying, slowly.
                failures += 1
                log.exception("outbox.relay.failed")
                await back_off(failures, 2.0)
                continue
            if sent == self._batch and time.monotonic() >= self._yielding_until:
                continue  # more is waiting: no pause under load
            if await within(self._idle, self._wake.wait()):
                # Woken by a commit: rows committed in the next moment go out in the
                # same transaction and publish, instead of one round each at a trickle.
                await asyncio.sleep(self._linger)

    async def backlog(self) -> int:
        count = await self._store.outbox_backlog()
        OUTBOX_BACKLOG.set(count)
        return count
