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
from collections import Counter, deque
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
from herald.services.gateway.models import Notification, WebhookEndpoint
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
    # Whether the endpoint was failing when claimed: a success then clears that.
    endpoint_failing: bool
    # When the lease ends: past it another round may take the delivery again.
    leased_until: datetime


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


# The most of an endpoint's deliveries held at once, in slots' worth.
MAX_DEPTH = 16


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
        # A claimed delivery waits for a slot, then takes one attempt: the lease covers
        # both and the recording (``_dispatch`` drops one that waited too long).
        self._lease = timedelta(seconds=2 * timeout + 5)
        self._disable_after = disable_after
        self._per_endpoint = per_endpoint
        self._max_in_flight = in_flight
        self._idle = idle_seconds
        self._clock = clock or SystemClock()
        # Per endpoint: deliveries claimed and waiting for a slot, and attempts under way.
        self._waiting: dict[uuid.UUID, deque[Claimed]] = {}
        self._busy: Counter[uuid.UUID] = Counter()
        # Each endpoint's answer time, smoothed: how many of its deliveries to claim.
        self._answer_seconds: dict[uuid.UUID, float] = {}
        self._timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._gauge_at = 0.0
        self._claims = Background()
        self._events = Background()
        self._outcomes: Batcher[Outcome, None] = Batcher(
            "webhook outcomes", self._settle, max_size=1000, linger=0.05, pause_after_error=0.5
        )

    async def start(self) -> None:
        await self._outcomes.start()
        self._events.start(
            keep_stepping(self._expand_round, self._rest_events, failed="webhooks.expand_failed")
        )
        self._claims.start(keep_stepping(self._round, self._rest, failed="webhooks.round_failed"))

    async def stop(self) -> None:
        await self._claims.stop()
        await self._events.stop()
        # Attempts under way end (each within its timeout) and are recorded; one that
        # is not, and those claimed but not begun, keep their lease and go again when
        # it ends.
        self._waiting.clear()
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

    async def _rest_events(self) -> None:
        await asyncio.sleep(self._idle)

    async def _expand_round(self) -> bool:
        made = await self.expand()
        if made:
            self._wake.set()
        return made >= self.EVENTS_PER_ROUND

    async def _round(self) -> bool:
        """Claim due deliveries for the endpoints with room; True when a claim was
        full (there may be more due at once)."""
        full = await self._claim()
        self._dispatch()
        return full

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

    def _room(self, endpoint_id: uuid.UUID) -> int:
        """How many more of an endpoint's deliveries to claim. A fast endpoint gets
        many at once (one claim, one statement, for hundreds), a slow one its slots'
        worth and as many again: what waits behind its attempts must still go well
        within the lease."""
        seconds = self._answer_seconds.get(endpoint_id)
        depth = 2
        if seconds is not None:
            depth = max(2, min(MAX_DEPTH, int(self._timeout / (4 * max(seconds, 1e-4)))))
        waiting = len(self._waiting.get(endpoint_id, ()))
        return depth * self._per_endpoint - self._busy[endpoint_id] - waiting

    async def _claim(self) -> bool:
        now = self._clock.now()
        claimed: list[Claimed] = []
        full = False
        async with unit_of_work(self._sessions) as session:
            repo = DeliveryRepository(session)
            for endpoint in await EndpointRepository(session).with_due_work(now):
                room = self._room(endpoint.id)
                if room < self._per_endpoint:
                    continue  # still a slot's worth waiting: claim when it runs low
                rows = await repo.claim(endpoint.id, now, room, now + self._lease)
                full = full or len(rows) == room
                secrets = secrets_of(endpoint, now)
                claimed += [
                    Claimed(
                        r.id,
                        r.event_id,
                        endpoint.id,
                        r.type,
                        r.payload,
                        r.attempts,
                        endpoint.url,
                        secrets,
                        endpoint.failing_since is not None,
                        now + self._lease,
                    )
                    for r in rows
                ]
        # Queued once the lease is committed.
        for c in claimed:
            self._waiting.setdefault(c.endpoint_id, deque()).append(c)
        return full

    def _dispatch(self) -> None:
        """Start waiting deliveries while their endpoint has a free slot."""
        for endpoint_id, waiting in list(self._waiting.items()):
            while (
                waiting
                and self._busy[endpoint_id] < self._per_endpoint
                and len(self._tasks) < self._max_in_flight
            ):
                claimed = waiting.popleft()
                if self._clock.now() + timedelta(seconds=self._timeout) > claimed.leased_until:
                    # Waited too long (its endpoint slowed down): its lease could end
                    # mid-attempt and another round send it too. It goes when it ends.
                    continue
                self._busy[endpoint_id] += 1
                task = asyncio.create_task(self._attempt(claimed))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not waiting:
                del self._waiting[endpoint_id]

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
        seconds = time.perf_counter() - started
        before = self._answer_seconds.get(claimed.endpoint_id, seconds)
        self._answer_seconds[claimed.endpoint_id] = 0.8 * before + 0.2 * seconds
        # The slot is free once the endpoint has answered; the outcome is recorded with
        # others while the next attempt goes.
        self._busy[claimed.endpoint_id] -= 1
        if self._busy[claimed.endpoint_id] <= 0:
            del self._busy[claimed.endpoint_id]
        self._dispatch()
        if self._room(claimed.endpoint_id) >= self._per_endpoint:
            self._wake.set()  # running low: claim more
        try:
            await self._outcomes.submit(Outcome(claimed, answer, seconds))
        except Exception:
            # Not recorded (the database is away): the lease ends and it goes again.
            log.exception("webhooks.attempt_not_recorded", delivery_id=str(claimed.delivery_id))

    async def _settle(self, outcomes: list[Outcome]) -> list[None]:
        """Each attempt's result on its delivery, in the log and on its endpoint."""
        now = self._clock.now()
        async with unit_of_work(self._sessions) as session:
            repo = DeliveryRepository(session)
            # A delivery whose endpoint was deleted meanwhile is gone: nothing to record.
            present = await repo.present([o.claimed.delivery_id for o in outcomes])
            settled, attempts, judged = [], [], []
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
                        "b_id": c.delivery_id,
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
                if failed or c.endpoint_failing:
                    judged.append(o)
            await repo.settle(settled)
            await AttemptRepository(session).insert(attempts)
            if judged:
                # Only what changes an endpoint reads it: a success after failures, or a
                # failure.
                endpoints = await EndpointRepository(session).many(
                    sorted({o.claimed.endpoint_id for o in judged})
                )
                for o in judged:
                    endpoint = endpoints.get(o.claimed.endpoint_id)
                    if endpoint is not None:
                        self._judge(endpoint, o.answer, now)
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
