from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from herald.delivery.ledger import LedgerColumns
from herald.domain.clock import utcnow
from herald.kit.db import HeraldBase, service_metadata


class Base(HeraldBase):
    __abstract__ = True
    metadata = service_metadata()


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the key: keys are 256 random bits, so a fast hash is enough to make a
    # stolen table useless, and it keeps the per-request check cheap.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # Idempotency is the database's job: two concurrent requests with the same
        # request_id cannot both insert.
        UniqueConstraint("api_key_id", "request_id", name="uq_notifications_key_request"),
        Index("ix_notifications_user_created", "user_id", "created_at"),
        Index("ix_notifications_status_created", "status", "created_at"),
        Index("ix_notifications_parent_created", "parent_id", "created_at"),
        # The topic sends whose fan-out has not finished: what the fan-out looks for.
        # A digest's members, which its delivery's status events move together.
        Index(
            "ix_notifications_digest",
            "digest_id",
            postgresql_where=text("digest_id IS NOT NULL"),
            sqlite_where=text("digest_id IS NOT NULL"),
        ),
        Index(
            "ix_notifications_fanning_out",
            "created_at",
            postgresql_where=text("topic IS NOT NULL AND status = 'pending'"),
            sqlite_where=text("topic IS NOT NULL AND status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id"))
    request_id: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    # None for a notification addressed directly (``to``) or to a topic.
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    template_code: Mapped[str] = mapped_column(String(100))
    template_version: Mapped[int | None] = mapped_column(Integer, default=None)
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    variables: Mapped[dict[str, Any]]
    priority: Mapped[int] = mapped_column(default=5)
    extra: Mapped[dict[str, Any] | None] = mapped_column("metadata", default=None)
    recipient: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16))
    initial_status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    correlation_id: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A topic send's child names its parent; the parent names its topic, counts its
    # children as they are made, and keeps the last subscriber it reached (the fan-out
    # resumes after it).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    topic: Mapped[str | None] = mapped_column(String(100), default=None)
    fanout: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    fanout_cursor: Mapped[uuid.UUID | None] = mapped_column(default=None)
    # When a scheduled notification becomes due (asked for, or the end of the user's
    # quiet hours, or its digest's close); the digest it waits in.
    send_at: Mapped[datetime | None] = mapped_column(default=None)
    digest_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class Schedule(Base):
    """A scheduled notification's release: at ``due_at`` the scheduler makes it pending
    and writes ``body`` to the outbox (a topic send, which has no message of its own,
    starts its fan-out), in one transaction. A row whose notification was cancelled
    meanwhile is dropped then."""

    __tablename__ = "schedules"

    id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    due_at: Mapped[datetime] = mapped_column(index=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class Digest(Base):
    """A window collecting one recipient's notifications of one template and key. At
    ``closes_at`` its members make one message, sent as this digest's id."""

    __tablename__ = "digests"
    __table_args__ = (
        Index("ix_digests_group", "group_key", "closes_at"),
        # The windows still open: what the scheduler closes when due.
        Index(
            "ix_digests_open",
            "closes_at",
            postgresql_where=text("closed_at IS NULL"),
            sqlite_where=text("closed_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The hash of (API key, recipient, channel, template, key): one window at a time.
    group_key: Mapped[str] = mapped_column(String(64))
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    members: Mapped[int] = mapped_column(default=0)
    # The command of the notification that opened it, rendered again at the close
    # with every member's variables.
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Topic(Base):
    __tablename__ = "topics"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopicSubscriber(Base):
    """One user following one topic. The fan-out reads them in user id order, by the
    primary key, a page at a time."""

    __tablename__ = "topic_subscribers"

    topic_key: Mapped[str] = mapped_column(
        ForeignKey("topics.key", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationEvent(Base):
    __tablename__ = "notification_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    # What the relay or push service answered on hand-off: proof it took the message.
    provider_response: Mapped[str | None] = mapped_column(Text, default=None)


class OutboxMessage(Base):
    """Written in the same transaction as its notification; the relay publishes it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    routing_key: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    priority: Mapped[int] = mapped_column(default=5)
    message_id: Mapped[str] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    """Where a client wants to hear of its notifications' events (SPEC.md §6.3)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Kept as given: signing needs the secret itself, not a hash of it.
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret signs as well until ``previous_secret_until``.
    previous_secret: Mapped[str | None] = mapped_column(String(100), default=None)
    previous_secret_until: Mapped[datetime | None] = mapped_column(default=None)
    # Since when every attempt has failed (None after a success); past the configured
    # period the endpoint is disabled and ``disabled_reason`` says why.
    failing_since: Mapped[datetime | None] = mapped_column(default=None)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """An event to report, written in the transaction of the status change it reports
    when any endpoint is enabled. The webhook worker turns it into one delivery per
    endpoint that listens for it, and deletes it, in one transaction."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    notification_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    provider_response: Mapped[str | None] = mapped_column(Text, default=None)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: its body fixed when made, so every attempt sends the
    same bytes under the same ``webhook-id``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # What the worker claims: an endpoint's deliveries still to go, by due time.
        Index(
            "ix_webhook_deliveries_due",
            "endpoint_id",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID]
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # pending (to go at ``next_attempt_at``: a claimed one's lease ends then), delivered,
    # failed (every attempt of the schedule spent).
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(Base):
    """One try of one delivery: the deliveries log an operator reads."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_endpoint", "endpoint_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int]
    # delivered, retrying (another attempt is scheduled) or failed (none is).
    outcome: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int] = mapped_column(default=0)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)


class FeedItem(Base):
    """One in-app notification in its user's feed. ``seq`` orders a feed and is the
    id of the item's event on the stream, so a client resumes with Last-Event-ID."""

    __tablename__ = "feed_items"
    __table_args__ = (
        Index("ix_feed_items_user_seq", "user_id", "seq"),
        Index("ix_feed_items_user_status", "user_id", "status"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # One item per notification, however often its message is delivered.
    notification_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    user_id: Mapped[uuid.UUID]
    template_code: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text, default=None)
    avatar: Mapped[str | None] = mapped_column(Text, default=None)
    # unread, read or archived.
    status: Mapped[str] = mapped_column(String(16), default="unread")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)


class InAppDelivery(LedgerColumns, Base):
    """The in-app worker's ledger: it runs on the gateway's database, where feeds are."""

    __tablename__ = "in_app_deliveries"
