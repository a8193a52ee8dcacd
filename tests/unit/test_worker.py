"""The delivery loop on the embedded broker (a real SQLite queue): every failure spends an
attempt, and the breaker learns from the transport's answers, not the message's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from herald.adapters.broker import embedded
from herald.adapters.broker.embedded import EmbeddedBroker
from herald.delivery.worker import DeliveryWorker
from herald.domain.breaker import BreakerBoard, BreakerState
from herald.domain.errors import DeliveryError
from herald.domain.messages import FAILED_QUEUE, Recipient, SendNotification, status_events
from herald.domain.retry import RetryPolicy
from herald.domain.statuses import Channel, Status
from herald.ports import DELIVERY_LIMIT, ERROR_HEADER, Delivery, Outgoing

TARGET = "relay:25"


class FakeSender:
    """Raises what it is told to, once per call, then delivers."""

    channel = Channel.EMAIL

    def __init__(self, *raises: BaseException) -> None:
        self.raises = list(raises)
        self.sent: list[uuid.UUID] = []

    def target(self, message: SendNotification) -> str:
        return TARGET

    async def send(self, message: SendNotification, content: dict[str, Any]) -> None:
        if self.raises:
            raise self.raises.pop(0)
        self.sent.append(message.notification_id)


class FakeTemplates:
    async def version(self, code: str, channel: str, locale: str, number: int) -> dict[str, Any]:
        return {"subject": "Hi", "body": "Hello {{ name }}", "html_body": None}


class FakeLedger:
    def __init__(self) -> None:
        self.recorded: set[uuid.UUID] = set()
        self.fail_lookups = 0
        self.fail_records = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def delivered(self, notification_id: uuid.UUID) -> bool:
        if self.fail_lookups:
            self.fail_lookups -= 1
            raise ConnectionError("database is down")
        return notification_id in self.recorded

    async def record(self, notification_id: uuid.UUID) -> None:
        if self.fail_records:
            self.fail_records -= 1
            raise ConnectionError("database is restarting")
        self.recorded.add(notification_id)


@pytest_asyncio.fixture
async def broker(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    b = EmbeddedBroker(tmp_path / "queue.db", poll_seconds=0.05)
    await b.start()
    yield b
    await b.close()


def make_worker(
    broker: EmbeddedBroker, sender: FakeSender, ledger: FakeLedger | None = None, **board: Any
) -> DeliveryWorker:
    return DeliveryWorker(
        sender=sender,
        broker=broker,
        templates=FakeTemplates(),  # type: ignore[arg-type]
        ledger=ledger or FakeLedger(),  # type: ignore[arg-type]
        policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02),
        breakers=BreakerBoard(**board),
    )


async def publish(broker: EmbeddedBroker) -> uuid.UUID:
    message = SendNotification(
        notification_id=uuid.uuid4(),
        channel=Channel.EMAIL,
        template_code="welcome",
        template_version=1,
        locale="en",
        variables={"name": "Ada"},
        recipient=Recipient(user_id=uuid.uuid4(), name="Ada", email="ada@example.com"),
    )
    await broker.publish([Outgoing("email", message.model_dump_json().encode())])
    return message.notification_id


async def dead_letters(broker: EmbeddedBroker, timeout: float = 10.0) -> list[Delivery]:
    async with asyncio.timeout(timeout):
        while not (taken := await broker.take(FAILED_QUEUE, 10)):
            await asyncio.sleep(0.02)
    return taken


async def statuses(broker: EmbeddedBroker) -> list[tuple[Status, int]]:
    events = []
    for delivery in await broker.take("status.queue", 100):
        events += [(e.status, e.attempts) for e in status_events(delivery.body)]
    return events


class TestAnyFailureSpendsAnAttempt:
    async def test_an_unexpected_exception_ends_in_failed_queue(
        self, broker: EmbeddedBroker
    ) -> None:
        # Given a sender that raises something no one planned for, on every attempt
        sender = FakeSender(*(ValueError("aud is not valid") for _ in range(10)))
        worker = make_worker(broker, sender)
        await worker.start()
        # When a message arrives
        await publish(broker)
        # Then it is retried with attempts spent, and dead-lettered after the last one
        [dead] = await dead_letters(broker)
        await worker.stop()
        assert dead.attempts == 3
        assert "ValueError" in dead.headers[ERROR_HEADER]
        assert len(sender.raises) == 7  # three tries, no more
        assert (await statuses(broker))[-1] == (Status.FAILED, 3)

    async def test_a_failure_before_sending_spends_an_attempt_too(
        self, broker: EmbeddedBroker
    ) -> None:
        ledger = FakeLedger()
        ledger.fail_lookups = 100
        worker = make_worker(broker, FakeSender(), ledger)
        await worker.start()
        await publish(broker)
        [dead] = await dead_letters(broker)
        await worker.stop()
        assert dead.attempts == 3 and "database is down" in dead.headers[ERROR_HEADER]

    async def test_a_ledger_away_after_the_send_does_not_send_it_again(
        self, broker: EmbeddedBroker
    ) -> None:
        # Given a ledger that cannot record for its next three tries (a restart)
        ledger = FakeLedger()
        ledger.fail_records = 3
        sender = FakeSender()
        worker = make_worker(broker, sender, ledger)
        await worker.start()
        # When a message is sent
        sent = await publish(broker)
        async with asyncio.timeout(10):
            while sent not in ledger.recorded:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        await worker.stop()
        # Then it went once, its record was tried until it was made, and no attempt
        # was spent on it
        assert sender.sent == [sent]
        assert ledger.fail_records == 0
        assert await statuses(broker) == [(Status.DELIVERED, 1)]
        assert await broker.depth("email.queue") == 0

    async def test_a_handler_that_always_raises_is_dead_lettered_by_the_broker(
        self, broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The pause between failures is a second; the limit is counted, not timed.
        monkeypatch.setattr(embedded, "_FAILURE_PAUSE", 0.0)
        calls = 0

        async def broken(delivery: Delivery) -> None:
            nonlocal calls
            calls += 1
            raise RuntimeError("bug")

        await broker.consume("email.queue", broken, prefetch=4)
        await broker.publish([Outgoing("email", b"{}")])
        [dead] = await dead_letters(broker, timeout=30)
        assert calls == DELIVERY_LIMIT
        assert "handler failed: RuntimeError: bug" in dead.headers[ERROR_HEADER]


class TestBreakerLearnsFromTheTransport:
    async def test_a_permanent_refusal_of_the_probe_closes_the_breaker(
        self, broker: EmbeddedBroker
    ) -> None:
        # Given a breaker that is half-open on its relay
        sender = FakeSender(DeliveryError("550 unknown user", permanent=True))
        worker = make_worker(broker, sender, failure_threshold=1, reset_seconds=0.05)
        worker.breakers.for_target(TARGET).record_failure()
        await asyncio.sleep(0.06)
        assert worker.breakers.states()[TARGET] is BreakerState.HALF_OPEN
        await worker.start()
        # When the probe meets a permanent refusal of its message
        await publish(broker)
        await dead_letters(broker)
        # Then the relay answered: the breaker is closed and the next message goes through
        assert worker.breakers.states()[TARGET] is BreakerState.CLOSED
        second = await publish(broker)
        async with asyncio.timeout(5):
            while second not in sender.sent:
                await asyncio.sleep(0.02)
        await worker.stop()

    async def test_a_transient_failure_counts_against_the_breaker(
        self, broker: EmbeddedBroker
    ) -> None:
        sender = FakeSender(DeliveryError("421 try later", permanent=False))
        worker = make_worker(broker, sender, failure_threshold=1, reset_seconds=60)
        await worker.start()
        await publish(broker)
        async with asyncio.timeout(5):
            while worker.breakers.states().get(TARGET) is not BreakerState.OPEN:
                await asyncio.sleep(0.02)
        await worker.stop()
