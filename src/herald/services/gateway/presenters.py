"""What the notifications API answers, built from stored rows: the 202 of an accepted
(or replayed) request and a notification with its history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from herald.domain.errors import HeraldError
from herald.domain.statuses import Status
from herald.services.gateway import schemas
from herald.services.gateway.models import Notification, NotificationEvent


class Answered(Protocol):
    """What a 202 is built from: a stored notification, or one about to be."""

    id: uuid.UUID
    request_id: str
    initial_status: str
    channel: str
    created_at: datetime
    last_error: str | None
    send_at: datetime | None


def accepted(n: Answered, *, status: str | None = None) -> dict[str, Any]:
    """The 202 answer; a skipped notification keeps its reason in ``last_error``.
    ``status``: the notification's status now, where it is answered again later."""
    return schemas.Accepted(
        notification_id=n.id,
        request_id=n.request_id,
        status=status or n.initial_status,
        notification_type=n.channel,
        created_at=n.created_at,
        reason=n.last_error if n.initial_status == Status.SKIPPED else None,
        send_at=n.send_at,
    ).model_dump(mode="json")


def replay(existing: Notification, request_hash: str) -> dict[str, Any]:
    if existing.request_hash != request_hash:
        raise HeraldError.conflict(
            f"request_id '{existing.request_id}' was already used with a different body"
        )
    # The status it has now: a client retrying after a time-out learns where it got to.
    return accepted(existing, status=existing.status)


def notification_out(
    n: Notification, history: Sequence[NotificationEvent] | None = None
) -> dict[str, Any]:
    return schemas.NotificationOut(
        notification_id=n.id,
        request_id=n.request_id,
        notification_type=n.channel,
        user_id=n.user_id,
        to=n.recipient if n.user_id is None and n.topic is None else None,
        topic=n.topic,
        parent_id=n.parent_id,
        fanout=n.fanout,
        send_at=n.send_at,
        digest_id=n.digest_id,
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
            schemas.HistoryEntry(
                status=e.status,
                timestamp=e.timestamp,
                error=e.error,
                provider_response=e.provider_response,
            )
            for e in history
        ],
    ).model_dump(mode="json")
