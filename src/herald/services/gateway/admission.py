"""An accepted notification as the rows it is stored as (the notification, its first
history entry, and the message it will be sent as: in the outbox if it goes now, in a
schedule if it waits for a time, in a digest if it waits for a window), built before
anything is written so that one transaction stores them together."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from herald.domain import quiet_hours
from herald.domain.clock import Clock, utcnow
from herald.domain.messages import Recipient, SendNotification
from herald.domain.statuses import Channel, Status
from herald.kit import tracing
from herald.kit.metrics import NOTIFICATIONS
from herald.services.gateway import schemas
from herald.services.gateway.presenters import accepted
from herald.services.gateway.routing import Route, topic_of

log = structlog.get_logger(__name__)


def fingerprint(body: schemas.NotificationIn) -> str:
    fields = dict(body.dumped)
    # Fields added since the first release count only when given, so that a request
    # stored before them still matches itself when it is retried.
    for name in _ADDED_FIELDS:
        if fields.get(name) is None:
            fields.pop(name, None)
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_ADDED_FIELDS = ("to", "topic", "send_at", "digest")


@dataclass(frozen=True, slots=True)
class Send:
    """What one notification asks for, whichever way it came: a request's body, or a
    topic send's child made for one subscriber."""

    request_id: str
    channel: str
    template_code: str
    variables: dict[str, Any]
    priority: int
    metadata: dict[str, Any] | None
    user_id: uuid.UUID | None = None
    to: dict[str, Any] | None = None
    topic: str | None = None
    parent_id: uuid.UUID | None = None
    fanout: dict[str, Any] | None = None
    send_at: datetime | None = None
    digest: dict[str, Any] | None = None
    # Whom it goes to, as rate limits and digests count recipients.
    recipient_key: str = ""

    @classmethod
    def of(cls, body: schemas.NotificationIn, *, audience: int | None = None) -> Send:
        """``audience``: a topic send's subscribers, counted as it is accepted."""
        to = None
        if body.to is not None:
            to = _shown(body.to)
        return cls(
            request_id=body.request_id,
            channel=body.notification_type,
            template_code=body.template_code,
            variables=body.dumped["variables"],
            priority=body.priority,
            metadata=body.metadata,
            user_id=body.user_id,
            to=to,
            topic=body.topic,
            fanout=None if body.topic is None else _fanout(audience, body.dumped["digest"]),
            send_at=body.send_at,
            digest=body.dumped["digest"],
            recipient_key=body.recipient_key,
        )


def _fanout(audience: int | None, digest: dict[str, Any] | None) -> dict[str, Any]:
    """A topic send's counts; and the digest its children join, if it asks for one."""
    counts: dict[str, Any] = {"total": audience or 0, "accepted": 0, "skipped": 0}
    if digest is not None:
        counts["digest"] = digest
    return counts


def _shown(to: schemas.To) -> dict[str, Any]:
    """An address given directly as its notification shows it: a device never with
    its keys."""
    if to.email is not None:
        return {"email": to.email}
    if to.phone is not None:
        return {"phone": to.phone}
    assert to.device is not None
    return {"device": {"kind": to.device.kind, "address": to.address}}


@dataclass(slots=True)
class NotificationRow:
    """A notification as stored: one field per column of ``models.Notification``, by its
    attribute name (a contract test holds the two to the same list)."""

    id: uuid.UUID
    api_key_id: uuid.UUID
    request_id: str
    request_hash: str
    channel: str
    user_id: uuid.UUID | None
    template_code: str
    template_version: int | None
    locale: str | None
    variables: dict[str, Any]
    priority: int
    extra: dict[str, Any] | None
    recipient: dict[str, Any] | None
    status: str
    initial_status: str
    attempts: int
    last_error: str | None
    correlation_id: str | None
    created_at: datetime
    updated_at: datetime
    parent_id: uuid.UUID | None
    topic: str | None
    fanout: dict[str, Any] | None
    fanout_cursor: uuid.UUID | None
    send_at: datetime | None
    digest_id: uuid.UUID | None


@dataclass(slots=True)
class FirstEvent:
    """A notification's first history entry."""

    notification_id: uuid.UUID
    status: str
    attempt: int
    error: str | None
    timestamp: datetime


@dataclass(slots=True)
class NewOutboxMessage:
    """The outbox row carrying the command a worker will act on."""

    routing_key: str
    body: bytes
    priority: int
    message_id: str
    correlation_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewSchedule:
    """When a scheduled notification is due, and the message it is sent as then (none
    for a topic send: its fan-out starts)."""

    due_at: datetime
    body: bytes | None


@dataclass(frozen=True, slots=True)
class DigestJoin:
    """The digest window a notification joins: the open one of its group, or a new one
    closing at ``closes_at`` (whose message is then built from ``body``)."""

    group_key: str
    at: datetime
    closes_at: datetime
    body: bytes


@dataclass(frozen=True, slots=True)
class Admission:
    """The rows one accepted notification is stored as: the notification, its first
    history entry and, unless skipped, its message (one of three places)."""

    notification: NotificationRow
    event: FirstEvent
    outbox: NewOutboxMessage | None
    schedule: NewSchedule | None = None
    digest: DigestJoin | None = None

    @property
    def answer(self) -> dict[str, Any]:
        return accepted(self.notification)


def admission(
    *,
    api_key_id: uuid.UUID,
    send: Send,
    request_hash: str,
    plan: Route,
    correlation_id: str | None,
    clock: Clock,
) -> Admission:
    """``clock``: the time that decides when it goes (``created_at`` is stamped now)."""
    now = utcnow()
    notification_id = uuid.uuid4()
    when = _when(api_key_id, send, plan, clock.now())
    outbox = schedule = digest = None
    body = None
    # A topic send's parent is pending while its children are made; it has no message.
    if when.status is not Status.SKIPPED and plan.recipient is not None:
        body = _command(send, plan, plan.recipient, notification_id, correlation_id, now)
    if when.status is Status.PENDING and body is not None:
        outbox = NewOutboxMessage(
            routing_key=send.channel,
            body=body,
            priority=send.priority,
            message_id=str(notification_id),
            correlation_id=correlation_id,
            created_at=now,
        )
    elif when.digest_group is not None and body is not None:
        assert when.due_at is not None
        digest = DigestJoin(when.digest_group, clock.now(), when.due_at, body)
    elif when.due_at is not None:
        schedule = NewSchedule(when.due_at, body)
    status = when.status
    if send.to is not None:
        recipient: dict[str, Any] | None = send.to
    elif plan.recipient is not None:
        recipient = {"email": plan.recipient.email}
    else:
        recipient = None
    return Admission(
        notification=NotificationRow(
            id=notification_id,
            api_key_id=api_key_id,
            request_id=send.request_id,
            request_hash=request_hash,
            channel=send.channel,
            user_id=send.user_id,
            template_code=send.template_code,
            template_version=plan.version,
            locale=plan.locale,
            variables=send.variables,
            priority=send.priority,
            extra=send.metadata,
            recipient=recipient,
            status=status.value,
            initial_status=status.value,
            attempts=0,
            last_error=plan.skip_reason,
            correlation_id=correlation_id,
            created_at=now,
            updated_at=now,
            parent_id=send.parent_id,
            topic=send.topic,
            fanout=send.fanout,
            fanout_cursor=None,
            send_at=when.due_at,
            digest_id=None,  # the store sets it, as it joins the window
        ),
        event=FirstEvent(
            notification_id=notification_id,
            status=status.value,
            attempt=0,
            error=plan.skip_reason,
            timestamp=now,
        ),
        outbox=outbox,
        schedule=schedule,
        digest=digest,
    )


@dataclass(frozen=True, slots=True)
class _When:
    status: Status
    due_at: datetime | None = None
    digest_group: str | None = None


def _when(api_key_id: uuid.UUID, send: Send, plan: Route, now: datetime) -> _When:
    """Whether it goes now, at a time (asked for, or the end of the recipient's quiet
    hours), or when a digest window closes."""
    if plan.skip_reason:
        return _When(Status.SKIPPED)
    if send.digest is not None and plan.recipient is not None:
        closes = now + timedelta(seconds=send.digest["window_seconds"])
        closes = _after_quiet_hours(closes, plan, send.priority, urgent_too=True)
        return _When(Status.SCHEDULED, closes, digest_group(api_key_id, send))
    due = max(send.send_at or now, now)
    due = _after_quiet_hours(due, plan, send.priority)
    if due > now:
        return _When(Status.SCHEDULED, due)
    return _When(Status.PENDING)


def _after_quiet_hours(
    due: datetime, plan: Route, priority: int, *, urgent_too: bool = False
) -> datetime:
    """``due``, or the end of the recipient's quiet hours when they hold it; a digest
    (``urgent_too``) waits for their end whatever its priority."""
    if plan.quiet_hours is None:
        return due
    held = quiet_hours.held_until(
        due,
        quiet_hours=plan.quiet_hours,
        zone=plan.timezone,
        priority=0 if urgent_too else priority,
    )
    return held or due


def digest_group(api_key_id: uuid.UUID, send: Send) -> str:
    """One open window at a time per API key, recipient, channel, template and key."""
    assert send.digest is not None
    parts = (str(api_key_id), send.recipient_key, send.channel, send.template_code)
    return hashlib.sha256("\x00".join((*parts, send.digest["key"])).encode()).hexdigest()


def _command(
    send: Send,
    plan: Route,
    recipient: Recipient,
    notification_id: uuid.UUID,
    correlation_id: str | None,
    now: datetime,
) -> bytes:
    """The command a worker acts on, as the queue carries it."""
    assert plan.version is not None and plan.locale is not None
    # Built from what acceptance already validated: checking it again cost a
    # notification more than writing it.
    command = SendNotification.model_construct(
        notification_id=notification_id,
        channel=Channel(send.channel),
        template_code=send.template_code,
        template_version=plan.version,
        locale=plan.locale,
        variables=send.variables,
        priority=send.priority,
        recipient=recipient,
        topic=topic_of(send.metadata),
        trace_context=tracing.inject() or None,
        correlation_id=correlation_id,
        created_at=now,
    )
    return command.model_dump_json().encode()


def admitted(a: Admission) -> None:
    channel, status = a.notification.channel, a.notification.status
    NOTIFICATIONS.labels(channel, "accepted").inc()
    if status == Status.SKIPPED:
        NOTIFICATIONS.labels(channel, "skipped").inc()
    log.info(
        "notifications.accepted",
        notification_id=str(a.notification.id),
        status=status,
        channel=channel,
    )
