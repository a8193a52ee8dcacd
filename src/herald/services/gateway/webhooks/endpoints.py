"""What the webhooks API does (routes.py only wires it): endpoints, their secrets,
test events, and the deliveries log with its retry."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.domain import webhooks
from herald.domain.clock import utcnow
from herald.domain.errors import HeraldError
from herald.services.gateway.context import GatewayContext
from herald.services.gateway.models import WebhookAttempt, WebhookEndpoint
from herald.services.gateway.webhooks import payload
from herald.services.gateway.webhooks.repository import (
    PENDING,
    AttemptRepository,
    DeliveryRepository,
    EndpointRepository,
)
from herald.services.gateway.webhooks.schemas import (
    AttemptOut,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecret,
    Queued,
)
from herald.services.gateway.webhooks.worker import delivery


def out(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return EndpointOut.model_validate(endpoint, from_attributes=True).model_dump(mode="json")


def with_secret(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return EndpointWithSecret.model_validate(endpoint, from_attributes=True).model_dump(mode="json")


def attempt_out(a: WebhookAttempt) -> dict[str, Any]:
    return AttemptOut(
        id=a.id,
        delivery_id=a.delivery_id,
        event_id=a.event_id,
        webhook_id=webhooks.message_id(str(a.event_id)),
        type=a.type,
        attempt=a.attempt,
        outcome=a.outcome,
        response_status=a.response_status,
        error=a.error,
        duration_ms=a.duration_ms,
        timestamp=a.timestamp,
    ).model_dump(mode="json")


async def checked_url(ctx: GatewayContext, url: str) -> str:
    """The webhook rules and allowed hosts, and the name resolved now: a URL that is,
    or names, a private address is refused (SSRF)."""
    why = await ctx.webhook_target_check(url)
    if why is not None:
        raise HeraldError.invalid(f"url: {why}")
    return url


async def create(session: AsyncSession, ctx: GatewayContext, body: EndpointIn) -> dict[str, Any]:
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        url=await checked_url(ctx, body.url),
        events=list(body.events),
        description=body.description,
        enabled=body.enabled,
        secret=webhooks.new_secret(),
    )
    EndpointRepository(session).add(endpoint)
    await session.flush()
    return with_secret(endpoint)


async def find(
    session: AsyncSession, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    endpoint = await EndpointRepository(session).get(endpoint_id, lock=lock)
    if endpoint is None:
        raise HeraldError.not_found(f"webhook endpoint {endpoint_id}")
    return endpoint


async def change(
    session: AsyncSession, ctx: GatewayContext, endpoint_id: uuid.UUID, body: EndpointPatch
) -> dict[str, Any]:
    endpoint = await find(session, endpoint_id, lock=True)
    given = body.model_fields_set
    if body.url is not None:
        endpoint.url = await checked_url(ctx, body.url)
    if body.events is not None:
        endpoint.events = list(body.events)
    if "description" in given:
        endpoint.description = body.description
    if body.enabled is not None:
        if body.enabled and not endpoint.enabled:
            # Enabled again: its history of failures starts over.
            endpoint.failing_since, endpoint.disabled_reason = None, None
        endpoint.enabled = body.enabled
    endpoint.updated_at = utcnow()
    return out(endpoint)


async def rotate(session: AsyncSession, endpoint_id: uuid.UUID) -> dict[str, Any]:
    """A new secret; the old one signs too for ``ROTATION_OVERLAP``."""
    endpoint = await find(session, endpoint_id, lock=True)
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + webhooks.ROTATION_OVERLAP
    endpoint.secret = webhooks.new_secret()
    endpoint.updated_at = now
    return with_secret(endpoint)


async def test(
    session: AsyncSession, ctx: GatewayContext, endpoint_id: uuid.UUID
) -> dict[str, Any]:
    """A ``webhook.test`` event to this endpoint alone, delivered like any other."""
    endpoint = await find(session, endpoint_id)
    now = ctx.clock.now()
    event_id = uuid.uuid4()
    row = delivery(event_id, endpoint.id, webhooks.TEST, payload.test_event(endpoint.id, now), now)
    await DeliveryRepository(session).insert([row])
    return Queued(
        delivery_id=row["id"],
        event_id=event_id,
        webhook_id=webhooks.message_id(str(event_id)),
    ).model_dump(mode="json")


async def attempts(
    session: AsyncSession, endpoint_id: uuid.UUID, *, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    await find(session, endpoint_id)
    rows, total = await AttemptRepository(session).page(endpoint_id, offset=offset, limit=limit)
    return [attempt_out(a) for a in rows], total


async def retry(
    session: AsyncSession, ctx: GatewayContext, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> dict[str, Any]:
    """Send a delivery again now (delivered or failed alike), under the same id."""
    await find(session, endpoint_id)
    found = await DeliveryRepository(session).get(delivery_id)
    if found is None or found.endpoint_id != endpoint_id:
        raise HeraldError.not_found(f"delivery {delivery_id} of webhook endpoint {endpoint_id}")
    now = ctx.clock.now()  # due now by the clock the worker reads
    found.state, found.next_attempt_at, found.updated_at = PENDING, now, now
    return Queued(
        delivery_id=found.id,
        event_id=found.event_id,
        webhook_id=webhooks.message_id(str(found.event_id)),
    ).model_dump(mode="json")


async def delete(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    await EndpointRepository(session).delete(await find(session, endpoint_id, lock=True))
