"""What Herald answers, typed: one model per response schema of ``/openapi.json``
(a test holds each to the schema of the same name, field for field). Unknown fields a
newer Herald adds are ignored."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["scheduled", "pending", "delivered", "failed", "skipped", "cancelled"]
Channel = Literal["email", "push", "sms", "chat", "in_app"]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Accepted(Model):
    """The 202 of a send."""

    notification_id: uuid.UUID
    request_id: str
    status: Status
    notification_type: Channel
    created_at: datetime
    reason: str | None = None
    send_at: datetime | None = None


class HistoryEntry(Model):
    status: Status
    timestamp: datetime
    error: str | None = None
    # What the relay or push service answered on taking the message.
    provider_response: str | None = None


class Fanout(Model):
    total: int
    accepted: int
    skipped: int


class NotificationOut(Model):
    notification_id: uuid.UUID
    request_id: str
    notification_type: Channel
    user_id: uuid.UUID | None = None
    to: dict[str, Any] | None = None
    topic: str | None = None
    parent_id: uuid.UUID | None = None
    fanout: Fanout | None = None
    send_at: datetime | None = None
    digest_id: uuid.UUID | None = None
    template_code: str
    template_version: int | None = None
    locale: str | None = None
    priority: int
    metadata: dict[str, Any] | None = None
    status: Status
    attempts: int
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntry] | None = None


class BatchItem(Model):
    index: int
    status_code: int
    notification_id: uuid.UUID | None = None
    error: str | None = None


class TopicOut(Model):
    key: str
    name: str
    subscribers: int
    created_at: datetime


class SubscribersChanged(Model):
    changed: int
    subscribers: int


class SubscriberOut(Model):
    user_id: uuid.UUID
    subscribed_at: datetime


class SuppressionOut(Model):
    id: str
    channel: Channel
    address: str
    reason: str
    created_at: datetime


class QuietHours(Model):
    start: str = Field(description="HH:MM, the user's local time")
    end: str


class Preferences(Model):
    email: bool = True
    push: bool = True
    sms: bool = True
    chat: bool = True
    in_app: bool = True
    quiet_hours: QuietHours | None = None


class UserOut(Model):
    id: uuid.UUID
    name: str
    email: str
    locale: str
    timezone: str
    preferences: Preferences
    email_bouncing: bool
    # E.164, for text messages.
    phone: str | None = None
    # "admin": may sign in to the console.
    role: str = "user"
    created_at: datetime
    updated_at: datetime


class DeviceOut(Model):
    id: uuid.UUID
    kind: Literal["fcm", "webpush", "slack", "discord", "teams"]
    token: str | None = None
    subscription: dict[str, Any] | None = None
    webhook_url: str | None = None
    valid: bool
    invalid_reason: str | None = None
    created_at: datetime


class TokenOut(Model):
    access_token: str
    token_type: str = "bearer"
    expires_in: int

    def __repr__(self) -> str:  # a token is a credential: never printed whole
        return f"TokenOut(token_type={self.token_type!r}, expires_in={self.expires_in})"


class TemplateSummary(Model):
    code: str
    channel: Channel
    default_locale: str
    description: str | None = None
    locales: dict[str, int]


class _Fields(Model):
    subject: str | None = None
    text: str | None = None
    blocks: str | None = None
    text_body: str | None = None
    html_body: str | None = None
    title: str | None = None
    body: str | None = None
    image: str | None = None
    link: str | None = None
    avatar: str | None = None


class TemplateVersionOut(_Fields):
    code: str
    channel: Channel
    locale: str
    version: int
    default_locale: str
    description: str | None = None
    created_at: str


class SmsParts(Model):
    """How a text goes out: GSM-7 or UCS-2, its length in that encoding's units, and
    how many messages it is split into."""

    encoding: str
    units: int
    parts: int


class Rendered(_Fields):
    code: str
    channel: Channel
    locale: str
    version: int
    sms: SmsParts | None = None


class Page(Model):
    """``meta`` of a list."""

    total: int
    limit: int
    page: int
    total_pages: int
    has_next: bool
    has_previous: bool


WebhookEvent = Literal[
    "notification.accepted",
    "notification.delivered",
    "notification.failed",
    "notification.skipped",
    "notification.cancelled",
    "notification.bounced",
    "notification.unsubscribed",
    "*",
]


class WebhookEndpoint(Model):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpoint):
    # Shown on creation and on rotation only: keep it where the receiver can read it.
    secret: str = Field(repr=False)


class WebhookAttempt(Model):
    id: int
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    webhook_id: str
    type: str
    attempt: int
    outcome: Literal["delivered", "retrying", "failed"]
    response_status: int | None = None
    error: str | None = None
    duration_ms: int
    timestamp: datetime


class WebhookQueued(Model):
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    webhook_id: str


FeedStatus = Literal["unread", "read", "archived"]


class FeedItemOut(Model):
    """An in-app notification in its user's feed; ``id`` is the notification's."""

    id: uuid.UUID
    seq: int
    template_code: str
    title: str
    body: str
    link: str | None = None
    avatar: str | None = None
    status: FeedStatus
    created_at: datetime
    read_at: datetime | None = None
    archived_at: datetime | None = None


class FeedMeta(Page):
    """``meta`` of a feed: the page, the unread count, and where a stream opened now
    starts (its Last-Event-ID)."""

    unread: int
    last_event_id: int


class FeedCount(Model):
    unread: int
    changed: int | None = None


class FeedTokenOut(Model):
    token: str
    expires_in: int


class FeedEvent(Model):
    """One event of a feed's stream: ``item`` (``item`` set) or ``unread`` (``unread``
    set); ``id``: the item's seq, to resume from."""

    event: Literal["item", "unread"]
    id: int | None = None
    item: FeedItemOut | None = None
    unread: int | None = None
