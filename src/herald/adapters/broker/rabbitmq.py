"""The broker port on RabbitMQ (aio-pika).

Topology (SPEC.md §4): the durable direct exchange ``notifications.direct`` and quorum
queues ``email.queue``, ``push.queue``, ``failed.queue`` and ``status.queue``. Retries
wait in delay queues named by a power-of-two bucket of their delay
(``email.queue.retry.b13`` holds waits of 4 to 8 s); each message carries its own
expiration and dead-letters back to its work queue when it expires. They are quorum
queues too, replicated on a cluster, dead-lettering at least once (which RabbitMQ
allows only with ``reject-publish`` overflow); the classic ``….delay.b*`` queues of
earlier versions empty themselves the same way and are no longer used. Bucketing keeps
RabbitMQ's head-of-line expiry from holding a short wait behind a long one by more
than a factor of two (https://www.rabbitmq.com/docs/ttl#per-message-ttl-caveats).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from herald.domain.messages import EXCHANGE, FAILED_QUEUE, ROUTING_KEYS
from herald.kit.aio import Background
from herald.ports import (
    DELIVERY_LIMIT,
    BrokerUnavailable,
    Delivery,
    Handler,
    Outgoing,
    attempts_of,
    dead_letter_headers,
    retry_headers,
)

log = structlog.get_logger(__name__)

# aiormq holds at most 10 frames for a connection's writer task, and a publish or an ack
# past that waits for the writer's next turn of the event loop. On a loop busy with
# requests that held the gateway's outbox relay to 500-1,000 messages a second, while the
# outbox grew and the email worker idled (docs/benchmarks.md). A frame waiting there is
# one message or one ack.
WRITE_FRAMES = 4096


def hold_more_frames() -> None:
    """Let the connections made from now on hold WRITE_FRAMES. aiormq reads the bound
    from its Connection class when a connection is made, and aio-pika makes them (and
    remakes them on every reconnect) through a path that takes no class of ours: the
    class attribute is the one place to say it. Set when a broker connects, not when
    this module is imported, and never lowered below what another user set."""
    connection_class: Any = aiormq.Connection
    connection_class.FRAME_BUFFER_SIZE = max(connection_class.FRAME_BUFFER_SIZE, WRITE_FRAMES)


class RabbitDelivery:
    def __init__(self, broker: RabbitBroker, message: AbstractIncomingMessage, queue: str) -> None:
        self._broker = broker
        self._message = message
        self.queue = queue
        self.body = message.body
        self.headers: Mapping[str, Any] = dict(message.headers or {})
        self.routing_key = ROUTING_KEYS.get(queue, queue)

    @property
    def attempts(self) -> int:
        return attempts_of(self.headers)

    def _copy(self, headers: dict[str, Any], **extra: Any) -> aio_pika.Message:
        m = self._message
        return aio_pika.Message(
            body=m.body,
            headers=headers,
            content_type=m.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            priority=m.priority,
            message_id=m.message_id,
            correlation_id=m.correlation_id,
            **extra,
        )

    async def ack(self) -> None:
        await self._message.ack()

    async def release(self) -> None:
        await self._message.nack(requeue=True)

    async def retry(self, delay: float, *, attempts: int, error: str | None) -> None:
        headers = retry_headers(self.headers, attempts=attempts, error=error)
        delay_queue = await self._broker.delay_queue(self.queue, delay)
        message = self._copy(headers, expiration=max(delay, 0.001))
        await self._broker.publish_raw(message, delay_queue, exchange="")
        await self._message.ack()

    async def dead_letter(self, *, attempts: int, error: str) -> None:
        headers = dead_letter_headers(
            self.headers, attempts=attempts, error=error, origin=self.routing_key
        )
        await self._broker.publish_raw(self._copy(headers), ROUTING_KEYS[FAILED_QUEUE])
        await self._message.ack()


class RabbitBroker:
    """Broker port on RabbitMQ; reconnects by itself and keeps its consumers.

    ``url`` may name several nodes of a cluster, comma-separated. Herald connects to
    the first that answers; when its node has been unreachable for
    ``failover_seconds`` it drops that connection and connects to the next node, and
    declares and consumes there as at start. Quorum queues are replicated across the
    cluster, so the next node has every message; what was in flight on the lost
    connection is redelivered (unacknowledged) or published again (unconfirmed)."""

    # The longest a publish waits for the broker's confirm before it is refused (and
    # the outbox relay tries again): a confirm that never comes must not hold it.
    CONFIRM_SECONDS = 10.0

    def __init__(
        self, url: str, *, reconnect_seconds: float = 1.0, failover_seconds: float = 3.0
    ) -> None:
        self._urls = [u.strip() for u in url.split(",") if u.strip()]
        self._turn = 0  # the node connected to, or tried next
        self._reconnect = reconnect_seconds
        self._failover = failover_seconds
        self._watcher = Background()
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._queues: dict[str, AbstractQueue] = {}
        self._delay_queues: set[str] = set()
        self._consumers: list[tuple[str, Handler, int]] = []
        self._connected = asyncio.Event()
        self._connector = Background()

    @property
    def _url(self) -> str:
        """The node connected to, or tried next."""
        return self._urls[self._turn % len(self._urls)]

    @property
    def node(self) -> str:
        """``_url`` without its credentials."""
        parsed = urlsplit(self._url)
        return f"{parsed.hostname}:{parsed.port or 5672}"

    async def start(self) -> None:
        self._connector.start(self._connect_forever())
        if len(self._urls) > 1:
            self._watcher.start(self._watch())

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def _connect_forever(self) -> None:
        while True:
            try:
                await self._connect()
                return
            except (OSError, aio_pika.exceptions.AMQPError) as exc:
                log.warning("broker.rabbitmq.connect_failed", node=self.node, error=str(exc))
                self._turn += 1  # the next node, if there are several
                await asyncio.sleep(self._reconnect / len(self._urls))

    async def _watch(self) -> None:
        """Move to the next node when this one has been unreachable for a while (the
        robust connection alone would wait for this node to come back)."""
        down_since: float | None = None
        while True:
            await asyncio.sleep(0.5)
            connection = self._connection
            if connection is None or connection.connected.is_set():
                down_since = None
                continue
            now = asyncio.get_running_loop().time()
            down_since = down_since or now
            if now - down_since < self._failover:
                continue
            lost = self.node
            self._drop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)
            self._turn += 1
            log.warning("broker.rabbitmq.failover", lost=lost, trying=self.node)
            await self._connect_forever()
            down_since = None

    async def _connect(self) -> None:
        hold_more_frames()
        connection = await aio_pika.connect_robust(self._url, reconnect_interval=self._reconnect)
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
        )
        for queue, key in ROUTING_KEYS.items():
            args: dict[str, Any] = {"x-queue-type": "quorum"}
            if queue != FAILED_QUEUE:
                args |= {
                    "x-delivery-limit": DELIVERY_LIMIT,
                    "x-dead-letter-exchange": EXCHANGE,
                    "x-dead-letter-routing-key": ROUTING_KEYS[FAILED_QUEUE],
                }
            declared = await channel.declare_queue(queue, durable=True, arguments=args)
            await declared.bind(exchange, key)
            self._queues[queue] = declared
        self._connection, self._channel = connection, channel
        for queue, handler, prefetch in self._consumers:
            await self._start_consumer(queue, handler, prefetch)
        self._connected.set()
        log.info("broker.rabbitmq.connected", node=self.node)

    def _drop(self) -> AbstractRobustConnection | None:
        """Forget the connection and what was declared on it; the connection, to close."""
        connection = self._connection
        self._connected.clear()
        self._connection, self._channel = None, None
        self._queues.clear()
        self._delay_queues.clear()
        return connection

    async def close(self) -> None:
        await self._watcher.stop()
        await self._connector.stop()
        connection = self._drop()
        if connection is not None:
            await connection.close()

    async def delay_queue(self, queue: str, delay: float) -> str:
        bucket = max(0, math.ceil(math.log2(max(delay, 0.001) * 1000)))
        name = f"{queue}.retry.b{bucket}"
        if name not in self._delay_queues:
            assert self._channel is not None
            await self._channel.declare_queue(
                name,
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-dead-letter-exchange": EXCHANGE,
                    "x-dead-letter-routing-key": ROUTING_KEYS.get(queue, queue),
                    # An expired wait goes back to its queue at least once, never lost
                    # on the way (the default for quorum queues is at most once).
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
            self._delay_queues.add(name)
        return name

    async def publish_raw(
        self, message: aio_pika.Message, routing_key: str, *, exchange: str | None = None
    ) -> None:
        connection = self._connection
        if not self._connected.is_set() or self._channel is None or connection is None:
            raise BrokerUnavailable("RabbitMQ is not connected")
        if not connection.connected.is_set():
            # Refused at once while the connection is down, rather than waiting for it
            # to return (it may not: the next node may be where the publish goes).
            raise BrokerUnavailable(f"RabbitMQ node {self.node} is unreachable")
        try:
            async with asyncio.timeout(self.CONFIRM_SECONDS):
                confirmation = await self._publish_raw(
                    self._channel, message, routing_key, exchange
                )
        except TimeoutError as exc:
            raise BrokerUnavailable(
                f"RabbitMQ did not confirm within {self.CONFIRM_SECONDS:.0f} s"
            ) from exc
        except (OSError, aio_pika.exceptions.AMQPError, RuntimeError) as exc:
            raise BrokerUnavailable(f"RabbitMQ did not confirm: {exc}") from exc
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            # Returned (mandatory) because no queue is bound for the routing key.
            raise BrokerUnavailable(f"RabbitMQ could not route a message to '{routing_key}'")

    async def _publish_raw(
        self,
        robust: AbstractRobustChannel,
        message: aio_pika.Message,
        routing_key: str,
        exchange: str | None,
    ) -> Any:
        # A robust channel whose connection is gone waits for it to come back, which a
        # connection left for another node never does: hence publish_raw's time limit.
        # The concrete channel, whose basic_publish takes ``wait``.
        channel = cast(aiormq.Channel, await robust.get_underlay_channel())
        # wait=False: by default the channel's lock is held until the connection's
        # writer task has put the frames on the socket, so a channel publishes one
        # message per turn of the event loop. On a loop busy with requests that made a
        # batch of 500 outbox rows take 1 to 3 s. The broker's confirm, awaited here all
        # the same, is what says the message is safe.
        return await channel.basic_publish(
            message.body,
            exchange=EXCHANGE if exchange is None else exchange,
            routing_key=routing_key,
            properties=message.properties,
            mandatory=True,
            wait=False,
        )

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        # Publishing concurrently lets the confirms of a batch arrive together
        # (https://www.rabbitmq.com/docs/confirms#publisher-confirms-latency).
        results = await asyncio.gather(
            *(
                self.publish_raw(
                    aio_pika.Message(
                        body=m.body,
                        headers=m.headers,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        priority=m.priority,
                        message_id=m.message_id,
                    ),
                    m.routing_key,
                )
                for m in messages
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise BrokerUnavailable(str(result)) from result

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> None:
        self._consumers.append((queue, handler, prefetch))
        if self._connected.is_set():
            await self._start_consumer(queue, handler, prefetch)

    async def _start_consumer(self, queue: str, handler: Handler, prefetch: int) -> None:
        assert self._connection is not None
        # One channel per consumer so each has its own prefetch window.
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        declared = await channel.declare_queue(queue, passive=True)

        async def on_message(message: AbstractIncomingMessage) -> None:
            delivery = RabbitDelivery(self, message, queue)
            try:
                await handler(delivery)
            except Exception:
                log.exception("broker.rabbitmq.handler_failed", queue=queue)
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)

        await declared.consume(on_message)

    async def ready(self) -> bool:
        # A robust connection is never "closed" while it reconnects; ask whether it is up.
        return self._connection is not None and self._connection.connected.is_set()

    async def depth(self, queue: str) -> int:
        if self._channel is None:
            raise BrokerUnavailable("RabbitMQ is not connected")
        # aio-pika answers a passive declare of a known queue from its own cache;
        # the underlying channel asks the broker.
        try:
            async with asyncio.timeout(self.CONFIRM_SECONDS):
                underlay = await self._channel.get_underlay_channel()
                declared = await underlay.queue_declare(queue, passive=True)
        except TimeoutError as exc:
            raise BrokerUnavailable("RabbitMQ did not answer") from exc
        return int(declared.message_count or 0)

    async def take(self, queue: str, limit: int) -> list[Delivery]:
        if self._channel is None:
            raise BrokerUnavailable("RabbitMQ is not connected")
        declared = self._queues.get(queue) or await self._channel.get_queue(queue)
        out: list[Delivery] = []
        for _ in range(limit):
            message = await declared.get(no_ack=False, fail=False)
            if message is None:
                break
            out.append(RabbitDelivery(self, message, queue))
        return out
