"""Accepting notifications and tracking their status. Handlers never commit."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from herald.domain import locales, variables
from herald.domain.errors import HeraldError
from herald.domain.messages import (
    DeliveryStatusChanged,
    Recipient,
    SendNotification,
    utcnow,
)
from herald.domain.statuses import FINAL, Channel, Status, can_move
from herald.kit import tracing
from herald.kit.metrics import NOTIFICATIONS
from herald.services.gateway import schemas
from herald.services.gateway.clients import Directory
from herald.services.gateway.models import Notification, NotificationEvent

log = structlog.get_logger(__name__)


def fingerprint(body: schemas.NotificationIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# The stored fields a 202 is built from, by attribute name: a notification row and an
# Admission's notification dict both carry them.
_ANSWERED = ("id", "request_id", "initial_status", "channel", "created_at", "last_error")


def accepted(n: Mapping[str, Any], *, status: str | None = None) -> dict[str, Any]:
    """The 202 answer; a skipped notification keeps its reason in ``last_error``.
    ``status``: the notification's status now, where it is answered again later."""
    return schemas.Accepted(
        notification_id=n["id"],
        request_id=n["request_id"],
        status=status or n["initial_status"],
        notification_type=n["channel"],
        created_at=n["created_at"],
        reason=n["last_error"] if n["initial_status"] == Status.SKIPPED else None,
    ).model_dump(mode="json")


def replay(existing: Notification, request_hash: str) -> dict[str, Any]:
    if existing.request_hash != request_hash:
        raise HeraldError.conflict(
            f"request_id '{existing.request_id}' was already used with a different body"
        )
    # The status it has now: a client retrying after a time-out learns where it got to.
    return accepted({name: getattr(existing, name) for name in _ANSWERED}, status=existing.status)


_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def topic_of(metadata: dict[str, Any] | None) -> str | None:
    """``metadata.topic`` becomes the push Topic: a newer push with the same topic
    replaces an undelivered older one (RFC 8030 §5.4: at most 32 base64url characters)."""
    topic = (metadata or {}).get("topic")
    return topic if isinstance(topic, str) and _TOPIC.match(topic) else None


@dataclass(frozen=True, slots=True)
class Route:
    """Where one notification goes: its template version, locale and recipient."""

    version: int
    locale: str
    recipient: Recipient
    skip_reason: str | None


async def route(directory: Directory, body: schemas.NotificationIn) -> Route:
    """Look the user and template up (cached) and decide: send, or skip and why."""
    channel = Channel(body.notification_type)
    contact, heads = await directory.contact_and_heads(
        str(body.user_id), body.template_code, channel
    )
    if contact is None:
        raise HeraldError.not_found(f"user {body.user_id}")
    if heads is None:
        raise HeraldError.not_found(f"template '{body.template_code}' for channel {channel}")
    chain = locales.fallback_chain(contact.get("locale"), heads["default_locale"])
    locale = next((c for c in chain if c in heads["locales"]), None)
    if locale is None:
        raise HeraldError.not_found(
            f"template '{body.template_code}' has no version in {contact.get('locale')}"
        )
    _check_variables(body, (heads.get("needs") or {}).get(locale))
    recipient = Recipient.model_validate(contact)
    skip: str | None = None
    if not contact["preferences"].get(channel, True):
        skip = f"user turned {channel} notifications off"
    elif channel == Channel.EMAIL and not contact.get("email"):
        skip = "user has no email address"
    elif channel == Channel.EMAIL and contact.get("email_bounce"):
        skip = f"email address is bouncing: {contact['email_bounce']}"
    elif channel == Channel.PUSH and not recipient.devices:
        skip = "user has no valid push device"
    return Route(int(heads["locales"][locale]), locale, recipient, skip)


def _check_variables(body: schemas.NotificationIn, needs: dict[str, list[str]] | None) -> None:
    """Refuse at the door what the worker could only fail on: a variable the template
    uses that the request lacks, or a line break bound for a subject or title."""
    if needs is None:  # heads cached before they carried what a version needs
        return
    given = body.variables.model_dump(mode="json")
    lacking = variables.missing(given, needs["all"])
    if lacking:
        raise HeraldError.invalid(
            f"variables: template '{body.template_code}' uses "
            + ", ".join(f"'{name}'" for name in lacking)
            + ", which the request does not give"
        )
    broken = variables.breaks_a_line(given, needs["single_line"])
    if broken:
        raise HeraldError.invalid(
            f"variables.{broken}: a line break or control character cannot go into the "
            "subject or title it is used in"
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """The rows one accepted notification is stored as, by attribute name: the
    notification, its first history entry and, unless skipped, its outbox message."""

    notification: dict[str, Any]
    event: dict[str, Any]
    outbox: dict[str, Any] | None

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
    outbox: dict[str, Any] | None = None
    if status is Status.PENDING:
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
        outbox = {
            "routing_key": body.notification_type,
            "body": command.model_dump_json().encode(),
            "priority": body.priority,
            "message_id": str(notification_id),
            "correlation_id": correlation_id,
            "created_at": now,
        }
    return Admission(
        notification={
            "id": notification_id,
            "api_key_id": api_key_id,
            "request_id": body.request_id,
            "request_hash": request_hash,
            "channel": body.notification_type,
            "user_id": body.user_id,
            "template_code": body.template_code,
            "template_version": plan.version,
            "locale": plan.locale,
            "variables": variables,
            "priority": body.priority,
            "extra": body.metadata,
            "recipient": {"email": plan.recipient.email},
            "status": status.value,
            "initial_status": status.value,
            "attempts": 0,
            "last_error": plan.skip_reason,
            "correlation_id": correlation_id,
            "created_at": now,
            "updated_at": now,
        },
        event={
            "notification_id": notification_id,
            "status": status.value,
            "attempt": 0,
            "error": plan.skip_reason,
            "timestamp": now,
        },
        outbox=outbox,
    )


def admitted(a: Admission) -> None:
    channel, status = a.notification["channel"], a.notification["status"]
    NOTIFICATIONS.labels(channel, "accepted").inc()
    if status == Status.SKIPPED:
        NOTIFICATIONS.labels(channel, "skipped").inc()
    log.info(
        "notifications.accepted",
        notification_id=str(a.notification["id"]),
        status=status,
        channel=channel,
    )


async def record_bounce(directory: Directory, address: str, reason: str) -> None:
    response = await directory.users.post_json(
        "/internal/bounces", {"email": address, "reason": reason[:2000]}
    )
    if response.status_code >= 400:
        raise HeraldError.unavailable("the users service could not record the bounce")
    log.info("notifications.email.bounced")


def notification_out(
    n: Notification, history: Sequence[NotificationEvent] | None = None
) -> dict[str, Any]:
    return schemas.NotificationOut(
        notification_id=n.id,
        request_id=n.request_id,
        notification_type=n.channel,
        user_id=n.user_id,
        template_code=n.template_code,
        template_version=n.template_version,
        locale=n.locale,
        priority=n.priority,
        metadata=n.extra,
        status=n.status,
        attempts=n.attempts,
        last_error=n.last_error,
        created_at=n.created_at,
        updated_at=n.updated_at,
        history=None
        if history is None
        else [
            schemas.HistoryEntry(status=e.status, timestamp=e.timestamp, error=e.error)
            for e in history
        ],
    ).model_dump(mode="json")


def apply(n: Notification, event: DeliveryStatusChanged) -> NotificationEvent | None:
    """Move ``n`` by one status event; return the history entry, or None to ignore it.

    A ``pending`` event on a pending notification is a retry: it is recorded (with its
    error) but the status stays. A final status never goes back to ``pending``.
    """
    current, new = Status(n.status), event.status
    retrying = current is Status.PENDING and new is Status.PENDING
    if not retrying and not can_move(current, new):
        return None
    n.status = new.value
    n.attempts = max(n.attempts, event.attempts)
    if event.error is not None or new is Status.DELIVERED:
        n.last_error = event.error
    n.updated_at = utcnow()
    if new in FINAL:
        NOTIFICATIONS.labels(n.channel, new.value).inc()
    log.info(
        "notifications.status_changed",
        notification_id=str(n.id),
        status=new.value,
        attempts=event.attempts,
        error=event.error,
        request_id=event.correlation_id,
    )
    return NotificationEvent(
        notification_id=n.id,
        status=new.value,
        attempt=event.attempts,
        error=event.error,
        timestamp=event.timestamp,
    )


def apply_events(
    found: Mapping[uuid.UUID, Notification], events: Sequence[DeliveryStatusChanged]
) -> tuple[list[Notification], list[NotificationEvent]]:
    """Apply a batch of status events, in time order, to the notifications they name;
    return the notifications changed (each once) and the history entries to add."""
    changed: dict[uuid.UUID, Notification] = {}
    entries: list[NotificationEvent] = []
    for event in sorted(events, key=lambda e: e.timestamp):
        n = found.get(event.notification_id)
        if n is None:
            log.warning(
                "notifications.status_for_unknown", notification_id=str(event.notification_id)
            )
            continue
        entry = apply(n, event)
        if entry is not None:
            changed[n.id] = n
            entries.append(entry)
    return list(changed.values()), entries
