"""Cancelling what has not been sent yet."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from herald.domain.clock import utcnow
from herald.domain.errors import HeraldError
from herald.domain.statuses import Status
from herald.kit.auth import Principal
from herald.kit.db import unit_of_work
from herald.kit.metrics import NOTIFICATIONS
from herald.services.gateway.context import GatewayContext
from herald.services.gateway.models import NotificationEvent
from herald.services.gateway.presenters import notification_out
from herald.services.gateway.repositories import NotificationRepository
from herald.services.gateway.security import may_see
from herald.services.gateway.webhooks import events as webhook_events

log = structlog.get_logger(__name__)


async def cancel(ctx: GatewayContext, who: Principal, notification_id: uuid.UUID) -> dict[str, Any]:
    """Cancel a scheduled notification. Its schedule is left for the scheduler, which
    drops it when due: taking it here would lock the two rows in the other order than
    the scheduler does. The lock on the notification decides which of the two wins."""
    async with unit_of_work(ctx.sessions) as session:
        repo = NotificationRepository(session)
        n = await repo.get(notification_id, lock=True)
        if n is None or not may_see(who, n):
            raise HeraldError.not_found(f"notification {notification_id}")
        if n.status != Status.SCHEDULED:
            raise HeraldError.conflict(
                f"notification is {n.status}: only a scheduled notification can be cancelled"
            )
        now = utcnow()
        n.status, n.updated_at = Status.CANCELLED.value, now
        entry = NotificationEvent(notification_id=n.id, status=n.status, attempt=0, timestamp=now)
        repo.add(entry)
        await webhook_events.record(session, webhook_events.rows([entry]))
        NOTIFICATIONS.labels(n.channel, n.status).inc()
        log.info("notifications.cancelled", notification_id=str(n.id))
        return notification_out(n)
