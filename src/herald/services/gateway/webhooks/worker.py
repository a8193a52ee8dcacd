"""The webhook worker (``herald worker webhooks``): turns events into deliveries, and
delivers them with the retry schedule.

Time lives in the database here too: a delivery is a row with the time of its next
attempt. Each round claims due deliveries (SKIP LOCKED on PostgreSQL, so several
workers take different ones) and leases them by moving that time past the attempt's
timeout: a worker that dies mid-attempt leaves them to be taken again when the lease
ends, under the same ``webhook-id``. At-least-once, never lost.

Each endpoint has its own few slots: a slow or failing endpoint fills its own, never
the others', so it never delays deliveries elsewhere.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.domain import webhooks
from herald.domain.clock import Clock, SystemClock
from herald.kit.aio import Background, keep_stepping, within
from herald.kit.batch import Batcher
from herald.kit.db import unit_of_work
from herald.kit.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_BACKLOG, WEBHOOK_EVENTS, WEBHOOK_SECONDS
from herald.ports import WebhookAnswer, WebhookTransport
from herald.services.gateway.models import Notification, WebhookDelivery, WebhookEndpoint
from herald.services.gateway.webhooks import payload
from herald.services.gateway.webhooks.repository import (
    DELIVERED,
    FAILED,
    PENDING,
    AttemptRepository,
    DeliveryRepository,
    EndpointRepository,
    EventRepository,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    endpoint_id: uuid.UUID
    type: str
    body: bytes
    attempts: int
    url: str
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    claimed: Claimed
    answer: WebhookAnswer
    seconds: float


def secrets_of(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    """The secrets that sign now: the current one, and the one before it for a while
    after a rotation."""
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > now:
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)


def signed_headers(claimed: Claimed, at: int) -> dict[str, str]:
    message_id = webhooks.message_id(str(claimed.event_id))
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(at),
        "webhook-signature": webhooks.signatures(claimed.secrets, message_id, at, claimed.body),
    }


class WebhookWorker:
    EVENTS_PER_ROUND = 1000

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        transport: WebhookTransport,
        schedule: webhooks.RetrySchedule,
        *,
        timeout: float,
        disable_after: timedelta,
        per_endpoint: int = 16,
        in_flight: int = 512,
        idle_seconds: float = 0.5,
        clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._transport = transport
        self._schedule = schedule
        # Past the attempt's timeout, with room for the answer to be recorded.
        self._lease = timedelta(seconds=timeout + 5)
        self._disable_after = disable_after
        self._per_endpoint = per_endpoint
        self._max_in_flight = in_flight
        self._idle = idle_seconds
        self._clock = clock or SystemClock()
        self._busy: Counter[uuid.UUID] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._gauge_at = 0.0
        self._loop = Background()
        self._outcomes: Batcher[Outcome, None] = Batcher(
            "webhook outcomes", self._settle, max_size=500, linger=0.005, pause_after_error=0.5
        )

    async def start(self) -> None:
        await self._outcomes.start()
        self._loop.start(keep_stepping(self._round, self._rest, failed="webhooks.round_failed"))

    async def stop(self) -> None:
        await self._loop.stop()
        # Attempts under way end (each within its timeout) and are recorded; one that
        # is not keeps its lease and is tried again when it ends.
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self._lease.total_seconds())
        await self._outcomes.stop()
        await self._transport.close()

    def wake(self) -> None:
        self._wake.set()

    async def _rest(self) -> None:
        if time.monotonic() >= self._gauge_at:
            self._gauge_at = time.monotonic() + 10
            await self.backlog()
        await within(self._idle, self._wake.wait())
        self._wake.clear()

    async def _round(self) -> bool:
        """Make deliveries of waiting events, then start the due ones there is room
        for; True when there may be more to do at once."""
        made = await self.expand()
        started = await self._claim()
        for claimed in started:
            task = asyncio.create_task(self._attempt(claimed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return made >= self.EVENTS_PER_ROUND or (
            bool(started) and len(self._tasks) < self._max_in_flight
        )

    async def expand(self) -> int:
        """One delivery per endpoint listening, for the oldest waiting events, and the
        events gone, in one transaction; returns how many events it took."""
        async with unit_of_work(self._sessions) as session:
            events = await EventRepository(session).claim(self.EVENTS_PER_ROUND)
            if not events:
                return 0
            ids = list({e.notification_id for e in events})
            columns = (
                Notification.id,
                Notification.request_id,
                Notification.user_id,
                Notification.channel,
                Notification.extra.label("metadata"),
            )
            found = {
                r.id: r._asdict()
                for r in await session.execute(select(*columns).where(Notification.id.in_(ids)))
            }
            endpoints = await EndpointRepository(session).enabled()
            now = self._clock.now()
            rows = []
            for e in events:
                listening = [p for p in endpoints if webhooks.listens(p.events, e.type)]
                if not listening:
                    continue
                WEBHOOK_EVENTS.labels(e.type).inc()
                body = payload.notification_event(
                    kind=e.type,
                    timestamp=e.timestamp,
                    notification=found.get(e.notification_id),
                    notification_id=e.notification_id,
                    status=e.status,
                    error=e.error,
                    attempts=e.attempts,
                    provider_response=e.provider_response,
                )
                event_id = uuid.uuid4()
                rows += [delivery(event_id, p.id, e.type, body, now) for p in listening]
            await DeliveryRepository(session).insert(rows)
            await EventRepository(session).remove([e.id for e in events])
            return len(events)

    async def _claim(self) -> list[Claimed]:
        room = self._max_in_flight - len(self._tasks)
        if room <= 0:
            return []
        now = self._clock.now()
        claimed: list[Claimed] = []
        async with unit_of_work(self._sessions) as session:
            repo = DeliveryRepository(session)
            busy = await repo.busy_endpoints(now)
            endpoints = await EndpointRepository(session).many(busy)
            for endpoint_id, endpoint in endpoints.items():
                free = min(self._per_endpoint - self._busy[endpoint_id], room - len(claimed))
                if free <= 0:
                    continue
                due = await repo.due(endpoint_id, now, free)
                if not due:
                    continue
                await repo.lease([d.id for d in due], now + self._lease)
                secrets = secrets_of(endpoint, now)
                claimed += [
                    Claimed(
                        d.id,
                        d.event_id,
                        endpoint_id,
                        d.type,
                        d.payload,
                        d.attempts,
                        endpoint.url,
                        secrets,
                    )
                    for d in due
                ]
        # Counted once the lease is committed.
        for c in claimed:
            self._busy[c.endpoint_id] += 1
        return claimed

    async def _attempt(self, claimed: Claimed) -> None:
        started = time.perf_counter()
        try:
            answer = await self._transport.post(
                claimed.url, signed_headers(claimed, int(time.time())), claimed.body
            )
        except Exception as exc:
            # Whatever went wrong spends an attempt like any failure: a delivery can
            # never circle without a count.
            log.exception("webhooks.unexpected_error", delivery_id=str(claimed.delivery_id))
            answer = WebhookAnswer(None, f"unexpected error: {type(exc).__name__}: {exc}"[:500])
        try:
            await self._outcomes.submit(Outcome(claimed, answer, time.perf_counter() - started))
        except Exception:
            # Not recorded (the database is away): the lease ends and it goes again.
            log.exception("webhooks.attempt_not_recorded", delivery_id=str(claimed.delivery_id))
        finally:
            self._busy[claimed.endpoint_id] -= 1
            if self._busy[claimed.endpoint_id] <= 0:
                del self._busy[claimed.endpoint_id]
            self._wake.set()

    async def _settle(self, outcomes: list[Outcome]) -> list[None]:
        """Each attempt's result on its delivery, in the log and on its endpoint."""
        now = self._clock.now()
        async with unit_of_work(self._sessions) as session:
            ids = [o.claimed.delivery_id for o in outcomes]
            # A delivery whose endpoint was deleted meanwhile is gone: nothing to record.
            present = set(
                await session.scalars(
                    select(WebhookDelivery.id)
                    .where(WebhookDelivery.id.in_(ids))
                    .order_by(WebhookDelivery.id)
                    .with_for_update()
                )
            )
            endpoints = await EndpointRepository(session).many(
                sorted({o.claimed.endpoint_id for o in outcomes})
            )
            settled, attempts = [], []
            for o in outcomes:
                c = o.claimed
                if c.delivery_id not in present:
                    continue
                made = c.attempts + 1
                failed = o.answer.error is not None
                after = None
                if failed and not o.answer.permanent:
                    after = self._schedule.next_attempt(made, now)
                state = DELIVERED if not failed else PENDING if after else FAILED
                outcome = {DELIVERED: "delivered", PENDING: "retrying", FAILED: "failed"}[state]
                settled.append(
                    {
                        "id": c.delivery_id,
                        "state": state,
                        "attempts": made,
                        "next_attempt_at": after or now,
                        "last_error": o.answer.error,
                        "updated_at": now,
                    }
                )
                attempts.append(
                    {
                        "delivery_id": c.delivery_id,
                        "endpoint_id": c.endpoint_id,
                        "event_id": c.event_id,
                        "type": c.type,
                        "attempt": made,
                        "outcome": outcome,
                        "response_status": o.answer.status,
                        "error": o.answer.error,
                        "duration_ms": round(o.seconds * 1000),
                        "timestamp": now,
                    }
                )
                label = str(c.endpoint_id)
                WEBHOOK_ATTEMPTS.labels(label, "retried" if state == PENDING else outcome).inc()
                WEBHOOK_SECONDS.labels(label).observe(o.seconds)
                endpoint = endpoints.get(c.endpoint_id)
                if endpoint is not None:
                    self._judge(endpoint, o.answer, now)
            await DeliveryRepository(session).settle(settled)
            await AttemptRepository(session).insert(attempts)
        return [None] * len(outcomes)

    def _judge(self, endpoint: WebhookEndpoint, answer: WebhookAnswer, now: datetime) -> None:
        """An endpoint failing for ``disable_after`` is disabled, and says why."""
        if answer.error is None:
            endpoint.failing_since = None
            return
        if endpoint.failing_since is None:
            endpoint.failing_since = now
        elif endpoint.enabled and now - endpoint.failing_since >= self._disable_after:
            endpoint.enabled = False
            endpoint.disabled_reason = (
                f"every attempt failed since {endpoint.failing_since.isoformat()}"
                f" (last: {answer.error})"
            )[:2000]
            endpoint.updated_at = now
            log.warning("webhooks.endpoint_disabled", endpoint_id=str(endpoint.id))

    async def backlog(self) -> int:
        async with self._sessions() as session:
            waiting = await DeliveryRepository(session).backlog()
            waiting += await EventRepository(session).backlog()
        WEBHOOK_BACKLOG.set(waiting)
        return waiting


def delivery(
    event_id: uuid.UUID, endpoint_id: uuid.UUID, kind: str, body: bytes, now: datetime
) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "event_id": event_id,
        "endpoint_id": endpoint_id,
        "type": kind,
        "payload": body,
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    }
