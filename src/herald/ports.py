"""Interfaces the services depend on. Each has a real and an embedded adapter in ``adapters/``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from herald.domain.ratelimits import Rule

ATTEMPTS_HEADER = "x-herald-attempts"
ERROR_HEADER = "x-herald-error"
ORIGIN_HEADER = "x-herald-origin"
CORRELATION_HEADER = "x-correlation-id"

# A message whose handler failed this many times without settling it is poison: the
# broker moves it to failed.queue instead of handing it out again for ever (RabbitMQ
# by its quorum queues' x-delivery-limit, the embedded broker by counting).
DELIVERY_LIMIT = 20


def attempts_of(headers: Mapping[str, Any]) -> int:
    """Delivery attempts a message has spent, as its headers say (0 when they do not)."""
    return int(str(headers.get(ATTEMPTS_HEADER, 0) or 0))


def retry_headers(
    headers: Mapping[str, Any], *, attempts: int, error: str | None
) -> dict[str, Any]:
    """A message's headers as it waits for its next attempt."""
    out = {**headers, ATTEMPTS_HEADER: attempts}
    if error is not None:
        out[ERROR_HEADER] = error[:1000]
    return out


def dead_letter_headers(
    headers: Mapping[str, Any], *, attempts: int, error: str, origin: str
) -> dict[str, Any]:
    """A message's headers in failed.queue: its attempts, last error and the routing key
    it came from (where a replay sends it back)."""
    return {**headers, ATTEMPTS_HEADER: attempts, ERROR_HEADER: error[:1000], ORIGIN_HEADER: origin}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish to the ``notifications.direct`` exchange."""

    routing_key: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    priority: int = 5
    message_id: str | None = None


class Delivery(Protocol):
    """A message handed to a consumer. Exactly one of ack/retry/dead_letter settles it."""

    body: bytes
    headers: Mapping[str, Any]
    routing_key: str

    @property
    def attempts(self) -> int:
        """Delivery attempts already spent on this message (0 on its first delivery)."""

    async def ack(self) -> None:
        """Done with it: remove it from its queue."""

    async def retry(self, delay: float, *, attempts: int, error: str | None) -> None:
        """Redeliver after ``delay`` seconds without blocking the consumer, then ack."""

    async def dead_letter(self, *, attempts: int, error: str) -> None:
        """Move it to ``failed.queue`` with its last error and attempt count, then ack."""

    async def release(self) -> None:
        """Give it back to its queue unchanged, to be delivered again."""


Handler = Callable[[Delivery], Awaitable[None]]


class StoreUnavailable(Exception):
    """The database could not answer now (unreachable, restarting); try again later."""


class RowRefused(Exception):
    """The database refused a row's data (a value it cannot hold, a constraint): the
    fault of that row's request, not a reason to retry it."""


class LedgerStore(Protocol):
    """Where a worker records the notifications it delivered."""

    async def delivered(self, ids: Sequence[Any]) -> set[Any]:
        """Which of ``ids`` are recorded."""

    async def record(self, ids: Sequence[Any]) -> None:
        """Record ``ids`` (one already there is left alone), committed on return."""


class BrokerUnavailable(Exception):
    """The broker could not take the message now; the caller keeps it and tries later."""


class Broker(Protocol):
    async def start(self) -> None:
        """Connect (in the background when the broker is not reachable yet)."""

    async def close(self) -> None: ...

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Publish and wait for the broker to confirm every message; raise BrokerUnavailable."""

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> None:
        """Start delivering ``queue``'s messages to ``handler``, at most ``prefetch`` at once."""

    async def ready(self) -> bool: ...

    async def depth(self, queue: str) -> int: ...

    async def take(self, queue: str, limit: int) -> list[Delivery]:
        """Fetch up to ``limit`` messages for inspection; settle each one (for the DLQ tools)."""


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """One value (or None) per key, in order, in one round trip."""

    async def set(self, key: str, value: bytes, *, ttl: float) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def ready(self) -> bool: ...

    async def close(self) -> None: ...


class Signals(Protocol):
    """Short messages to every process listening on a channel: Redis pub/sub, or in
    the process for ``herald dev``. Nothing is kept for a listener that was away, so
    a signal only says where to look; what listens reads the truth from a database."""

    async def publish(self, channel: str, message: str) -> None:
        """Never raises: a signal that cannot be sent is lost, as one may be anyway."""

    def listen(self, channel: str) -> AsyncIterator[str | None]:
        """Each message, for as long as the caller reads; None after a reconnection,
        when messages may have been missed."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One limit a request counts against: ``rule`` for the subject ``key`` names
    (``"key:<api key id>"``, ``"recipient:<user id>"``)."""

    rule: Rule
    key: str


@dataclass(frozen=True, slots=True)
class RateDecision:
    """``reset_after``: seconds until one more request fits, 0.0 when it is allowed."""

    allowed: bool
    limit: int
    reset_after: float


class RateLimiter(Protocol):
    async def hit(self, *limits: RateLimit) -> list[RateDecision]:
        """Count one request against every limit, or, when any of them refuses it,
        against none; one decision per limit, in order, in one round trip."""

    async def hit_each(self, requests: Sequence[Sequence[RateLimit]]) -> list[list[RateDecision]]:
        """``hit`` for each of ``requests`` in turn (a batch's items), in one round trip:
        a later request sees what the earlier ones counted."""

    async def refund(self, *limits: RateLimit) -> None:
        """Take back one counted request from each limit's current window: it turned
        out not to be a new request (an idempotent replay). Never below zero."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """A finished message: the SMTP envelope and the bytes of the mail itself."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


class EmailTransport(Protocol):
    """Hands a finished message to an SMTP server; raises DeliveryError."""

    target: str

    async def send(self, mail: OutgoingEmail) -> str | None:
        """What the relay answered on taking it (kept as proof of hand-off)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class PushRequest:
    """One push to one device: already rendered, not yet encrypted."""

    kind: str
    token: str | None
    subscription: Mapping[str, Any] | None
    payload: Mapping[str, Any]
    ttl: int
    urgency: str
    topic: str | None


class PushTransport(Protocol):
    """Delivers one push to a push service; raises DeliveryError (``device_gone`` on 404/410)."""

    def target(self, request: PushRequest) -> str: ...

    async def send(self, request: PushRequest) -> str | None:
        """What the push service answered on taking it (a message name, a Location)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One message to one chat webhook (``kind``: slack, discord or teams)."""

    kind: str
    webhook_url: str
    text: str
    # Slack's Block Kit blocks, when the template gives them.
    blocks: list[Any] | None = None


class ChatTransport(Protocol):
    """Posts one message to a chat webhook; raises DeliveryError (DeviceGone when the
    service says the webhook no longer exists)."""

    def target(self, request: ChatRequest) -> str: ...

    async def send(self, request: ChatRequest) -> str | None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SmsRequest:
    """One text message to one phone number (E.164), already rendered."""

    to: str
    body: str
    # The notification's id, for a provider that reports receipts by it.
    reference: str
    # Where the provider reports what became of it (a delivery receipt), or None.
    status_callback: str | None = None


class SmsTransport(Protocol):
    """Hands one text to an SMS provider; raises DeliveryError (permanent when the
    provider refuses the message itself, not when it is unreachable or busy)."""

    @property
    def target(self) -> str:
        """The provider's host: what a breaker guards."""
        ...

    async def send(self, request: SmsRequest) -> str | None:
        """What the provider answered on taking it (its message id and status)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    """What a provider's delivery receipt says: whether the text never arrived, and in
    the provider's words."""

    failed: bool
    detail: str


class SmsReceipts(Protocol):
    """Reads the receipts an SMS provider posts back, once their signature is its own."""

    def read(self, url: str, form: Mapping[str, str], signature: str | None) -> SmsReceipt:
        """``url``: the one the provider was given. Raises HeraldError (403) when the
        receipt is not signed by the provider."""
        ...


class CapturedMessages(Protocol):
    """What ``herald dev`` captured instead of sending (mail and push), for its inbox."""

    def find(
        self,
        *,
        to: str | None = None,
        channel: str | None = None,
        since: float | None = None,
        text: str | None = None,
        limit: int = 200,
        with_raw: bool = False,
    ) -> list[dict[str, Any]]: ...

    def get(self, item_id: int) -> dict[str, Any] | None: ...

    def count(self) -> int: ...

    def clear(self) -> int: ...


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What came of posting one webhook: a 2xx (``error`` None) or why not."""

    status: int | None  # the HTTP status, None when no answer came
    error: str | None = None
    permanent: bool = False  # another attempt could not succeed (a refused address)


class WebhookTransport(Protocol):
    """Posts a webhook (no redirect followed), refusing private addresses unless
    allowed, including names that resolve to one."""

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer: ...

    async def close(self) -> None: ...


# Why a URL may not be called (it is, or its name resolves to, a private address), or
# None: what registering a webhook endpoint asks.
TargetCheck = Callable[[str], Awaitable[str | None]]
