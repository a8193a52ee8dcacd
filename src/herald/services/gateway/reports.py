"""A provider's report of a delivery outcome (``POST /api/v1/{email|push}/status/``),
applied as a worker's status event would be."""

from __future__ import annotations

import uuid
from typing import Any

from herald.domain import webhooks
from herald.domain.clock import utcnow
from herald.domain.errors import HeraldError
from herald.domain.messages import DeliveryStatusChanged
from herald.domain.statuses import Channel, Status
from herald.kit.auth import Principal
from herald.kit.db import unit_of_work
from herald.services.gateway import schemas
from herald.services.gateway.context import GatewayContext
from herald.services.gateway.presenters import notification_out
from herald.services.gateway.repositories import NotificationRepository
from herald.services.gateway.security import may_see
from herald.services.gateway.tracking import apply, record_bounce
from herald.services.gateway.webhooks import events as webhook_events


async def report(
    ctx: GatewayContext, who: Principal, channel: str, body: schemas.StatusReport
) -> dict[str, Any]:
    """A provider's report of an outcome, applied as a status event would be."""
    notification_id = uuid.UUID(body.notification_id)
    async with unit_of_work(ctx.sessions) as session:
        repo = NotificationRepository(session)
        n = await repo.get(notification_id, lock=True)
        # Another owner's notification is not found, as for reading: a status key could
        # otherwise fail anyone's mail and mark their address as bouncing.
        if n is None or n.channel != channel or not may_see(who, n):
            raise HeraldError.not_found(f"{channel} notification {notification_id}")
        if n.topic is not None:
            # Nothing was sent for it: its children were, and each has its own status.
            raise HeraldError.conflict(
                "a topic send's status follows its fan-out; report on its children"
            )
        if n.status != body.status:
            event = DeliveryStatusChanged(
                notification_id=n.id,
                channel=Channel(n.channel),
                status=Status(body.status),
                attempts=n.attempts,
                error=body.error,
                timestamp=body.timestamp or utcnow(),
                correlation_id=n.correlation_id,
            )
            entry = apply(n, event)
            if entry is None:
                raise HeraldError.conflict(
                    f"notification is {n.status}; it cannot become {body.status}"
                )
            repo.add(entry)
            made = webhook_events.rows([entry])
            if channel == "email" and body.status == "failed":
                made.append(webhook_events.row(entry, webhooks.BOUNCED))
            await webhook_events.record(session, made)
        data = notification_out(n)
        address = (n.recipient or {}).get("email")
    # After the commit: the users service is never called while this row is locked.
    if channel == "email" and body.status == "failed" and address:
        await record_bounce(ctx.directory, address, body.error or "hard bounce")
    return data
