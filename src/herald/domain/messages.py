"""Typed messages that travel over the queue. Schemas are documented in docs/messages.md."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from herald.domain.clock import utcnow
from herald.domain.statuses import Channel, Status

# Routing keys on the ``notifications.direct`` exchange (SPEC.md §4).
EXCHANGE = "notifications.direct"
FAILED_QUEUE = "failed.queue"
STATUS_QUEUE = "status.queue"
# One work queue per channel, its routing key the channel's name.
WORK_QUEUES = {channel: f"{channel}.queue" for channel in Channel}
ROUTING_KEYS = {
    **{queue: str(channel) for channel, queue in WORK_QUEUES.items()},
    FAILED_QUEUE: "failed",
    STATUS_QUEUE: "status",
}


class Device(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: UUID
    kind: str
    token: str | None = None
    subscription: dict[str, Any] | None = None
    # A chat's incoming webhook (kinds slack, discord, teams).
    webhook_url: str | None = None


class Recipient(BaseModel):
    """A stored user, or (``user_id`` None) an address a client gave directly."""

    model_config = ConfigDict(extra="ignore")

    user_id: UUID | None
    name: str = ""
    email: str | None = None
    locale: str = "en"
    devices: list[Device] = Field(default_factory=list)
    # E.164, for text messages.
    phone: str | None = None


class SendNotification(BaseModel):
    """Command on ``email.queue`` / ``push.queue``: deliver one notification."""

    notification_id: UUID
    channel: Channel
    template_code: str
    template_version: int
    locale: str
    variables: dict[str, Any]
    priority: int = 5
    recipient: Recipient
    topic: str | None = None
    correlation_id: str | None = None
    trace_context: dict[str, str] | None = None
    created_at: datetime = Field(default_factory=utcnow)


class DeliveryStatusChanged(BaseModel):
    """Event on ``status.queue``: a worker (or a provider) learnt a delivery outcome."""

    notification_id: UUID
    channel: Channel
    status: Status
    attempts: int = 0
    error: str | None = None
    timestamp: datetime = Field(default_factory=utcnow)
    correlation_id: str | None = None
    # What the relay or push service answered when it took the message.
    provider_response: str | None = None

    @field_validator("error", "provider_response")
    @classmethod
    def _storable(cls, error: str | None) -> str | None:
        # Errors quote what a remote server said, which may hold a NUL character: one
        # that PostgreSQL refuses would fail every status event in its batch, again on
        # each redelivery.
        return error.replace("\x00", "\ufffd") if error else error


_STATUS_BATCH = TypeAdapter(list[DeliveryStatusChanged])


def status_message(events: Sequence[DeliveryStatusChanged]) -> bytes:
    """The body of one ``status.queue`` message: a JSON array of events. A worker sends
    the events of concurrent deliveries together, one queue message for many."""
    return _STATUS_BATCH.dump_json(list(events))


def status_events(body: bytes) -> list[DeliveryStatusChanged]:
    """The events in a ``status.queue`` message: an array of them, or one event alone
    (as a provider's webhook relay may publish it). Raises pydantic's ValidationError."""
    if body.lstrip()[:1] == b"[":
        return _STATUS_BATCH.validate_json(body)
    return [DeliveryStatusChanged.model_validate_json(body)]
