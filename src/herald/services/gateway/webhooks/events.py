"""The events a status change makes, written in the transaction that makes the change.
Nothing is written while no endpoint is enabled, so the hot path pays nothing for
webhooks no one asked for."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from herald.domain import webhooks
from herald.services.gateway.models import NotificationEvent
from herald.services.gateway.repositories import NotificationRepository
from herald.services.gateway.webhooks.repository import EventRepository


class Entry(Protocol):
    """A history entry, as stored or about to be."""

    notification_id: uuid.UUID
    status: str
    attempt: int
    error: str | None
    timestamp: datetime


def rows(entries: Iterable[Entry], *, first: bool = False) -> list[dict[str, Any]]:
    """The events history ``entries`` make; ``first``: they are notifications' first."""
    made = []
    for e in entries:
        kind = webhooks.event_type(e.status, first=first)
        if kind is not None:
            made.append(row(e, kind))
    return made


def row(e: Entry, kind: str) -> dict[str, Any]:
    return {
        "notification_id": e.notification_id,
        "type": kind,
        "status": e.status,
        "error": e.error,
        "attempts": e.attempt,
        "provider_response": getattr(e, "provider_response", None),
        "timestamp": e.timestamp,
    }


async def record(session: AsyncSession, made: list[dict[str, Any]]) -> None:
    """Write ``made`` in the session's transaction, if any endpoint is enabled."""
    if made:
        await EventRepository(session).insert_if_listened(made)


async def about(session: AsyncSession, reference: uuid.UUID, kind: str, at: datetime) -> None:
    """An event of ``kind`` about a notification (or each member of a digest sent as
    ``reference``), in its present status: what an unsubscribe reports."""
    made = [
        # Its present status, as a history entry would say it (none is written).
        row(
            NotificationEvent(
                notification_id=n.id, status=n.status, attempt=n.attempts, timestamp=at
            ),
            kind,
        )
        for n in await NotificationRepository(session).sent_as(reference)
    ]
    await record(session, made)
