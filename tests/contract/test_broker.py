"""One contract, two brokers: the embedded queue must behave as RabbitMQ does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from herald.adapters.broker.embedded import EmbeddedBroker
from herald.adapters.broker.rabbitmq import RabbitBroker
from herald.domain.messages import FAILED_QUEUE
from herald.ports import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    ORIGIN_HEADER,
    Broker,
    BrokerUnavailable,
    Delivery,
    Outgoing,
)
from herald.services.gateway.relay import OutboxRelay
from tests.servers import rabbit_vhost


class Recorder:
    """A consumer that records what it got and settles each message as it is told."""

    def __init__(self, settle: str = "ack", delay: float = 0.0) -> None:
        self.settle = settle
        self.delay = delay
        self.got: list[tuple[float, bytes, dict[str, object]]] = []
        self.running = 0
        self.most_at_once = 0
        self.event = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.got.append((time.monotonic(), delivery.body, dict(delivery.headers)))
        self.event.set()
        await asyncio.sleep(self.delay)
        self.running -= 1
        if self.settle == "ack":
            await delivery.ack()
        elif self.settle == "retry-once" and delivery.attempts == 0:
            await delivery.retry(0.6, attempts=1, error="try later")
        elif self.settle == "retry-once":
            await delivery.ack()
        elif self.settle == "dead":
            await delivery.dead_letter(attempts=3, error="gave up")

    async def wait(self, count: int, timeout: float = 10.0) -> None:
        async def until() -> None:
            while len(self.got) < count:
                self.event.clear()
                await self.event.wait()

        await asyncio.wait_for(until(), timeout)


async def _open(kind: str, tmp_path: Path, url: str | None) -> Broker:
    broker: Broker
    if kind == "embedded":
        broker = EmbeddedBroker(tmp_path / "queue.db", poll_seconds=0.2)
    else:
        assert url is not None
        broker = RabbitBroker(url)
    await broker.start()
    if isinstance(broker, RabbitBroker):
        await asyncio.wait_for(broker.wait_connected(), 15)
    return broker


@pytest_asyncio.fixture(params=["embedded", "rabbitmq"])
async def broker_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    kind = request.param
    opened: list[Broker] = []

    async def make() -> Broker:
        broker = await _open(kind, tmp_path, url)
        opened.append(broker)
        return broker

    if kind == "rabbitmq":
        async with rabbit_vhost() as url:
            yield make
            for b in opened:
                await b.close()
    else:
        url = None
        yield make
        for b in opened:
            await b.close()


def _msg(n: int, key: str = "email", priority: int = 5) -> Outgoing:
    return Outgoing(
        routing_key=key,
        body=json.dumps({"n": n}).encode(),
        headers={"x-correlation-id": f"c{n}"},
        priority=priority,
        message_id=f"m{n}",
    )


async def delivered_whole(broker: Broker, count: int, *, prefetch: int) -> None:
    """Publish ``count`` messages in one batch and see each of them consumed once."""
    await broker.publish([_msg(n) for n in range(count)])
    seen = Recorder()
    await broker.consume("email.queue", seen, prefetch=prefetch)
    await seen.wait(count, timeout=30)
    assert sorted(json.loads(b)["n"] for _, b, _ in seen.got) == list(range(count))


class TestBrokerContract:
    async def test_a_batch_of_500_is_confirmed_and_delivered_whole(self, broker_factory) -> None:
        await delivered_whole(await broker_factory(), 500, prefetch=100)

    async def test_published_messages_reach_the_consumer_with_their_headers(
        self, broker_factory
    ) -> None:
        broker = await broker_factory()
        await broker.publish([_msg(1), _msg(2)])
        seen = Recorder()
        await broker.consume("email.queue", seen, prefetch=4)
        await seen.wait(2)
        assert sorted(json.loads(b)["n"] for _, b, _ in seen.got) == [1, 2]
        assert {h["x-correlation-id"] for _, _, h in seen.got} == {"c1", "c2"}

    async def test_retry_redelivers_after_the_delay_with_the_attempt_count(
        self, broker_factory
    ) -> None:
        broker = await broker_factory()
        seen = Recorder(settle="retry-once")
        await broker.consume("email.queue", seen, prefetch=4)
        await broker.publish([_msg(1)])
        await seen.wait(2)
        (first, _, h1), (second, _, h2) = seen.got[:2]
        assert second - first >= 0.5  # waited in the delay queue
        assert int(str(h1.get(ATTEMPTS_HEADER, 0))) == 0
        assert int(str(h2[ATTEMPTS_HEADER])) == 1
        assert h2[ERROR_HEADER] == "try later"

    async def test_a_retry_does_not_hold_back_other_messages(self, broker_factory) -> None:
        broker = await broker_factory()
        seen = Recorder(settle="retry-once")
        await broker.consume("email.queue", seen, prefetch=1)
        await broker.publish([_msg(1)])
        await seen.wait(1)
        await broker.publish([_msg(2)])
        await seen.wait(2)
        # Message 2 arrived while message 1 was still waiting for its retry.
        assert [json.loads(b)["n"] for _, b, _ in seen.got[:2]] == [1, 2]
        assert seen.got[1][0] - seen.got[0][0] < 0.5

    async def test_dead_letters_land_in_failed_queue_with_error_and_attempts(
        self, broker_factory
    ) -> None:
        broker = await broker_factory()
        await broker.consume("email.queue", Recorder(settle="dead"), prefetch=4)
        await broker.publish([_msg(7)])
        dead = Recorder()
        await broker.consume(FAILED_QUEUE, dead, prefetch=4)
        await dead.wait(1)
        _, body, headers = dead.got[0]
        assert json.loads(body) == {"n": 7}
        assert headers[ERROR_HEADER] == "gave up"
        assert int(str(headers[ATTEMPTS_HEADER])) == 3
        assert headers[ORIGIN_HEADER] == "email"

    async def test_prefetch_bounds_messages_in_flight(self, broker_factory) -> None:
        broker = await broker_factory()
        await broker.publish([_msg(n) for n in range(8)])
        seen = Recorder(delay=0.1)
        await broker.consume("email.queue", seen, prefetch=2)
        await seen.wait(8)
        assert seen.most_at_once <= 2

    async def test_unsettled_messages_survive_a_reconnect(self, broker_factory) -> None:
        # Given a message taken but never settled (the process died mid-delivery)
        broker = await broker_factory()
        await broker.publish([_msg(3)])
        taken = await broker.take("email.queue", 1)
        assert len(taken) == 1
        await broker.close()
        # When a new broker connection starts
        again = await broker_factory()
        seen = Recorder()
        await again.consume("email.queue", seen, prefetch=1)
        # Then the message is delivered again
        await seen.wait(1)
        assert json.loads(seen.got[0][1]) == {"n": 3}

    async def test_depth_and_take_release(self, broker_factory) -> None:
        broker = await broker_factory()
        await broker.publish([_msg(1, key="failed"), _msg(2, key="failed")])
        for _ in range(50):
            if await broker.depth(FAILED_QUEUE) == 2:
                break
            await asyncio.sleep(0.1)
        assert await broker.depth(FAILED_QUEUE) == 2
        taken = await broker.take(FAILED_QUEUE, 5)
        assert len(taken) == 2
        await taken[0].ack()
        await taken[1].release()
        for _ in range(50):
            if await broker.depth(FAILED_QUEUE) == 1:
                break
            await asyncio.sleep(0.1)
        assert await broker.depth(FAILED_QUEUE) == 1


class TestEmbeddedBroker:
    async def test_a_backlog_drains_without_waiting_for_the_poll(self, tmp_path: Path) -> None:
        # The poll is only a fallback: a consumer whose slots free up takes the next
        # messages at once, however long the poll.
        broker = EmbeddedBroker(tmp_path / "queue.db", poll_seconds=60)
        await broker.start()
        try:
            await delivered_whole(broker, 40, prefetch=4)
        finally:
            await broker.close()


class TestRabbitBroker:
    async def test_a_message_no_queue_takes_is_refused_not_dropped(self) -> None:
        async with rabbit_vhost() as url:
            broker = await _open("rabbitmq", Path("."), url)
            try:
                with pytest.raises(BrokerUnavailable, match="could not route"):
                    await broker.publish([_msg(1, key="nowhere")])
            finally:
                await broker.close()

    async def test_a_relay_batch_fits_the_connections_write_queue(self) -> None:
        # A publish that finds aiormq's write queue full waits a turn of the event loop
        # for the writer: a whole relay batch must fit, or a busy gateway relays slowly.
        async with rabbit_vhost() as url:
            broker = await _open("rabbitmq", Path("."), url)
            try:
                assert broker._connection is not None and broker._connection.transport
                queue = broker._connection.transport.connection.write_queue
                assert queue.maxsize >= OutboxRelay.BATCH_SIZE
            finally:
                await broker.close()
