"""An accepted notification as the rows it is stored as (the notification, its first
history entry and, unless skipped, its outbox message), built before anything is
written so that one transaction stores them together."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from herald.domain.clock import utcnow
from herald.domain.messages import SendNotification
from herald.domain.statuses import Channel, Status
from herald.kit import tracing
from herald.kit.metrics import NOTIFICATIONS
from herald.services.gateway import schemas
from herald.services.gateway.presenters import accepted
from herald.services.gateway.routing import Route, topic_of

log = structlog.get_logger(__name__)


def fingerprint(body: schemas.NotificationIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(slots=True)
class NotificationRow:
    """A notification as stored: one field per column of ``models.Notification``, by its
    attribute name (a contract test holds the two to the same list)."""

    id: uuid.UUID
    api_key_id: uuid.UUID
    request_id: str
    request_hash: str
    channel: str
    user_id: uuid.UUID
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
class Admission:
    """The rows one accepted notification is stored as: the notification, its first
    history entry and, unless skipped, its outbox message."""

    notification: NotificationRow
    event: FirstEvent
    outbox: NewOutboxMessage | None

    @property
    def answer(self) -> dict[str, Any]:
        return accepted(self.notification)


def admission(
    *,
    api_key_id: uuid.UUID,
    body: schemas.NotificationIn,
    request_hash: str,
    plan: Route,
    correlation_id: str | None,
) -> Admission:
    status = Status.SKIPPED if plan.skip_reason else Status.PENDING
    now = utcnow()
    notification_id = uuid.uuid4()
    variables = body.variables.model_dump(mode="json")
    outbox = None
    if status is Status.PENDING:
        outbox = _outbox(body, plan, notification_id, variables, correlation_id, now)
    return Admission(
        notification=NotificationRow(
            id=notification_id,
            api_key_id=api_key_id,
            request_id=body.request_id,
            request_hash=request_hash,
            channel=body.notification_type,
            user_id=body.user_id,
            template_code=body.template_code,
            template_version=plan.version,
            locale=plan.locale,
            variables=variables,
            priority=body.priority,
            extra=body.metadata,
            recipient={"email": plan.recipient.email},
            status=status.value,
            initial_status=status.value,
            attempts=0,
            last_error=plan.skip_reason,
            correlation_id=correlation_id,
            created_at=now,
            updated_at=now,
        ),
        event=FirstEvent(
            notification_id=notification_id,
            status=status.value,
            attempt=0,
            error=plan.skip_reason,
            timestamp=now,
        ),
        outbox=outbox,
    )


def _outbox(
    body: schemas.NotificationIn,
    plan: Route,
    notification_id: uuid.UUID,
    variables: dict[str, Any],
    correlation_id: str | None,
    now: datetime,
) -> NewOutboxMessage:
    command = SendNotification(
        notification_id=notification_id,
        channel=Channel(body.notification_type),
        template_code=body.template_code,
        template_version=plan.version,
        locale=plan.locale,
        variables=variables,
        priority=body.priority,
        recipient=plan.recipient,
        topic=topic_of(body.metadata),
        trace_context=tracing.inject() or None,
        correlation_id=correlation_id,
        created_at=now,
    )
    return NewOutboxMessage(
        routing_key=body.notification_type,
        body=command.model_dump_json().encode(),
        priority=body.priority,
        message_id=str(notification_id),
        correlation_id=correlation_id,
        created_at=now,
    )


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
