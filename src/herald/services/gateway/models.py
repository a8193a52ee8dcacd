from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
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
