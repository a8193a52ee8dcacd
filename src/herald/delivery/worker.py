"""The delivery loop both workers run: one implementation of retries, delay queues,
dead letters, circuit breakers and effectively-once sending.

For each message: skip it if the ledger says it was delivered; hold it in a delay
queue (without spending an attempt) while its target's breaker is open; otherwise
render and send. A transient failure waits ``RetryPolicy.delay`` in a delay queue, a
permanent one or the last attempt goes to ``failed.queue``. The status event is
published before the message is settled, so nothing is acked before it is recorded.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from fastapi import FastAPI
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from herald.delivery.ledger import Ledger
from herald.delivery.templates import TemplateSource
from herald.domain.breaker import BreakerBoard, BreakerState
from herald.domain.errors import DeliveryError, HeraldError
from herald.domain.messages import (
    WORK_QUEUES,
    DeliveryStatusChanged,
    SendNotification,
    status_message,
)
from herald.domain.retry import RetryPolicy
from herald.domain.statuses import Channel, Status
from herald.kit import rendering, tracing
from herald.kit.aio import until_done
from herald.kit.app import create_app
from herald.kit.batch import Batcher
from herald.kit.breakers import BreakerReport
from herald.kit.health import Check
from herald.kit.metrics import BREAKER_OPEN, DELIVERY_ATTEMPTS, DELIVERY_SECONDS, QUEUE_WAIT
from herald.ports import CORRELATION_HEADER, Broker, Delivery, Outgoing

log = structlog.get_logger(__name__)


class Sender(Protocol):
    """One channel's way of delivering a rendered notification."""

    channel: Channel

    def target(self, message: SendNotification) -> str:
        """The host a breaker guards (an SMTP relay, a push service)."""

    async def send(self, message: SendNotification, content: dict[str, Any]) -> str | None:
        """Deliver, or raise DeliveryError; return what the provider answered."""


@dataclass
class DeliveryWorker:
    sender: Sender
    broker: Broker
    templates: TemplateSource
    ledger: Ledger
    policy: RetryPolicy
    breakers: BreakerBoard
    prefetch: int = 32
    in_flight: int = field(default=0)
    # Status events of concurrent deliveries leave as one queue message; waiting up to
    # 10 ms for more makes one message of several even at a few hundred a second.
    _events: Batcher[DeliveryStatusChanged, None] = field(init=False)

    def __post_init__(self) -> None:
        self._events = Batcher("status events", self._publish_events, linger=0.01)

    @property
    def queue(self) -> str:
        return WORK_QUEUES[self.sender.channel]

    async def start(self) -> None:
        await self.ledger.start()
        await self._events.start()
        await self.broker.consume(self.queue, self.handle, prefetch=self.prefetch)

    async def stop(self) -> None:
        """After the broker closed: no delivery is waiting for the ledger or for its
        status event any more (one that was is redelivered, never acked)."""
        await self._events.stop()
        await self.ledger.stop()

    def breaker_states(self) -> dict[str, BreakerState]:
        return self.breakers.states()

    async def _status(
        self,
        message: SendNotification,
        status: Status,
        attempts: int,
        error: str | None,
        provider_response: str | None = None,
    ) -> None:
        event = DeliveryStatusChanged(
            notification_id=message.notification_id,
            channel=message.channel,
            status=status,
            attempts=attempts,
            error=error,
            correlation_id=message.correlation_id,
            provider_response=provider_response,
        )
        # Published (and confirmed) before the delivery is settled.
        await self._events.submit(event)

    async def _publish_events(self, events: list[DeliveryStatusChanged]) -> list[None]:
        ids = {e.correlation_id for e in events}
        correlation = ids.pop() if len(ids) == 1 else None  # one request's events only
        headers = {CORRELATION_HEADER: correlation} if correlation else {}
        await self.broker.publish([Outgoing("status", status_message(events), headers=headers)])
        return [None] * len(events)

    async def _content(self, message: SendNotification) -> dict[str, Any]:
        version = await self.templates.version(
            message.template_code, message.channel.value, message.locale, message.template_version
        )
        variables = {**message.variables, "user": {"name": message.recipient.name}}
        return await rendering.render_channel(message.channel.value, version, variables)

    async def handle(self, delivery: Delivery) -> None:
        try:
            message = SendNotification.model_validate_json(delivery.body)
        except ValidationError as exc:
            await delivery.dead_letter(
                attempts=delivery.attempts, error=f"malformed message: {exc.errors()[:3]}"
            )
            return
        # Consumer lag: how long the notification waited between acceptance and now.
        QUEUE_WAIT.labels(self.queue).observe(
            max((datetime.now(UTC) - message.created_at).total_seconds(), 0.0)
        )
        with (
            structlog.contextvars.bound_contextvars(
                notification_id=str(message.notification_id),
                channel=message.channel.value,
                request_id=message.correlation_id or delivery.headers.get(CORRELATION_HEADER),
            ),
            tracing.tracer.start_as_current_span(
                f"deliver {message.channel.value}",
                context=tracing.extract(message.trace_context),
                kind=SpanKind.CONSUMER,
                attributes={
                    "herald.notification_id": str(message.notification_id),
                    "herald.attempt": delivery.attempts + 1,
                },
            ),
        ):
            try:
                await self._handle(delivery, message)
            except Exception as exc:
                # Whatever went wrong, the message spends an attempt and ends in
                # failed.queue after the last one: it can never circle without a count.
                log.exception("delivery.unexpected_error")
                await self._failed(
                    delivery, message, _unexpected(exc), delivery.attempts + 1, None, None
                )

    async def _handle(self, delivery: Delivery, message: SendNotification) -> None:
        attempts = delivery.attempts
        if await self.ledger.delivered(message.notification_id):
            log.info("delivery.duplicate_skipped")
            await self._status(message, Status.DELIVERED, max(attempts, 1), None)
            await delivery.ack()
            return
        target = self.sender.target(message)
        breaker = self.breakers.for_target(target)
        wait = breaker.wait_seconds()
        channel = message.channel.value
        if wait > 0:
            # The target is down: wait without spending an attempt.
            log.info("delivery.breaker_open", target=target, wait=round(wait, 2))
            await delivery.retry(
                wait + random.uniform(0, wait / 4),
                attempts=attempts,
                error=f"circuit open for {target}",
            )
            return
        made = attempts + 1
        started = time.perf_counter()
        try:
            content = await self._content(message)
            with tracing.tracer.start_as_current_span(
                f"{channel} send", kind=SpanKind.CLIENT, attributes={"herald.target": target}
            ):
                answer = await self.sender.send(message, content)
        except Exception as exc:
            if not isinstance(exc, DeliveryError | HeraldError):
                log.exception("delivery.unexpected_error")
            await self._failed(delivery, message, _unexpected(exc), made, target, started)
            return
        self._transport_worked(channel, target)
        DELIVERY_ATTEMPTS.labels(channel, "delivered").inc()
        DELIVERY_SECONDS.labels(channel, "delivered").observe(time.perf_counter() - started)
        log.info("delivery.delivered", attempt=made)
        # Side by side, and each tried again until it is done: it was sent, so a ledger
        # or a broker that is away for a moment (a database restarting) must not make
        # it a failed attempt and send it again. The message stays unacknowledged
        # meanwhile; only a worker stopped or killed before both are done leaves it to
        # be redelivered (and, without its ledger record, sent twice).
        await asyncio.gather(
            until_done(
                lambda: self.ledger.record(message.notification_id),
                failed="delivery.ledger_record_failed",
            ),
            until_done(
                lambda: self._status(message, Status.DELIVERED, made, None, answer),
                failed="delivery.status_publish_failed",
            ),
        )
        await delivery.ack()

    def _transport_worked(self, channel: str, target: str) -> None:
        self.breakers.for_target(target).record_success()
        BREAKER_OPEN.labels(channel, target).set(0)

    async def _failed(
        self,
        delivery: Delivery,
        message: SendNotification,
        error: DeliveryError,
        made: int,
        target: str | None,
        started: float | None,
    ) -> None:
        """``target`` is None when the failure came before any delivery was tried."""
        channel = message.channel.value
        if target is not None and error.permanent:
            # The transport answered, and what it said is about this message: for the
            # breaker that is a success (a half-open probe that meets a 550 closes it).
            self._transport_worked(channel, target)
        elif target is not None:
            breaker = self.breakers.for_target(target)
            breaker.record_failure()
            if breaker.state is not BreakerState.CLOSED:
                # Shown as open from the failure that opened it, not from the next
                # message that finds it so.
                BREAKER_OPEN.labels(channel, target).set(1)
        final = error.permanent or self.policy.exhausted(made)
        outcome = "failed" if final else "retried"
        DELIVERY_ATTEMPTS.labels(channel, outcome).inc()
        if started is not None:
            DELIVERY_SECONDS.labels(channel, outcome).observe(time.perf_counter() - started)
        if final:
            log.warning(
                "delivery.failed", attempt=made, error=error.error, permanent=error.permanent
            )
            await self._status(message, Status.FAILED, made, error.error)
            await delivery.dead_letter(attempts=made, error=error.error)
            return
        delay = self.policy.delay(made, retry_after=error.retry_after)
        log.info("delivery.retry_scheduled", attempt=made, error=error.error, delay=round(delay, 2))
        await self._status(message, Status.PENDING, made, error.error)
        await delivery.retry(delay, attempts=made, error=error.error)


def _unexpected(exc: Exception) -> DeliveryError:
    """Any failure as a delivery error: Herald's own as they say, anything else as a
    transient failure that spends an attempt like every other."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, HeraldError):
        return DeliveryError(exc.error, permanent=exc.status_code < 500)
    return DeliveryError(f"unexpected error: {type(exc).__name__}: {exc}"[:500], permanent=False)


def worker_app(
    *,
    service: str,
    worker: DeliveryWorker,
    database: Check,
    max_body_bytes: int = 1024,
    report: BreakerReport | None = None,
) -> FastAPI:
    """The small HTTP face of a worker: ``/health``, ``/ready`` (with breaker states)
    and ``/metrics``; its lifespan starts consuming."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await worker.start()
        if report is not None:
            await report.start()
        try:
            yield
        finally:
            if report is not None:
                await report.stop()

    return create_app(
        service=service,
        title=f"Herald {service}",
        max_body_bytes=max_body_bytes,
        lifespan=lifespan,
        checks={"database": database, "broker": worker.broker.ready},
        details=lambda: {"breakers": {t: s.value for t, s in worker.breaker_states().items()}},
    )
