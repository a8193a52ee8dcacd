"""A notification's status as events arrive (from the workers or a provider's report):
moved by the domain's rules, recorded in its history, and a hard bounce told to the
users service."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import structlog

from herald.domain.clock import utcnow
from herald.domain.errors import HeraldError
from herald.domain.messages import DeliveryStatusChanged
from herald.domain.statuses import FINAL, Status, records
from herald.kit.metrics import NOTIFICATIONS
from herald.services.gateway.clients import Directory
from herald.services.gateway.models import Notification, NotificationEvent

log = structlog.get_logger(__name__)


def apply(n: Notification, event: DeliveryStatusChanged) -> NotificationEvent | None:
    """Move ``n`` by one status event; return the history entry, or None to ignore it.

    A ``pending`` event on a pending notification is a retry: it is recorded (with its
    error) but the status stays. A final status never goes back to ``pending``.
    """
    new = event.status
    if not records(Status(n.status), new):
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
        provider_response=event.provider_response,
    )


def apply_events(
    found: Mapping[uuid.UUID, Notification], events: Sequence[DeliveryStatusChanged]
) -> tuple[list[Notification], list[NotificationEvent]]:
    """Apply a batch of status events, in time order, to the notifications they name
    (a digest's id names every member it was sent for); return the notifications
    changed (each once) and the history entries to add."""
    named: dict[uuid.UUID, list[Notification]] = {}
    for n in found.values():
        named.setdefault(n.digest_id or n.id, []).append(n)
    changed: dict[uuid.UUID, Notification] = {}
    entries: list[NotificationEvent] = []
    for event in sorted(events, key=lambda e: e.timestamp):
        targets = named.get(event.notification_id)
        if not targets:
            log.warning(
                "notifications.status_for_unknown", notification_id=str(event.notification_id)
            )
            continue
        for n in targets:
            entry = apply(n, event)
            if entry is not None:
                changed[n.id] = n
                entries.append(entry)
    return list(changed.values()), entries


async def record_bounce(directory: Directory, address: str, reason: str) -> None:
    response = await directory.users.post_json(
        "/internal/bounces", {"email": address, "reason": reason[:2000]}
    )
    if response.status_code >= 400:
        raise HeraldError.unavailable("the users service could not record the bounce")
    log.info("notifications.email.bounced")
