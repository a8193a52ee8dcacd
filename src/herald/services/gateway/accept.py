"""Accepting one notification: the application's one way to do it, whichever door it
came through (the API today; a batch, a topic or the console as they come)."""

from __future__ import annotations

import uuid
from typing import Any

from herald.domain.errors import HeraldError
from herald.domain.statuses import Status
from herald.kit.db import unit_of_work
from herald.services.gateway import schemas
from herald.services.gateway.admission import admission, admitted, fingerprint
from herald.services.gateway.context import GatewayContext
from herald.services.gateway.presenters import replay
from herald.services.gateway.repositories import NotificationRepository
from herald.services.gateway.routing import plan
from herald.services.gateway.security import limit, unlimit


async def accept(
    ctx: GatewayContext,
    body: schemas.NotificationIn,
    *,
    api_key: uuid.UUID,
    correlation_id: str | None,
) -> tuple[dict[str, Any], str]:
    """Limit, route and store one notification; return its 202 answer and message.
    A request_id already used by this key is answered as it was (with the status it
    has now), spending no rate limit; with another body it is a 409."""
    request_hash = fingerprint(body)
    try:
        await limit(ctx, api_key=str(api_key), user_id=str(body.user_id))
        route = await plan(ctx.directory, body)
    except HeraldError:
        # A retry of a request accepted earlier gets its answer, not a 429 or a 404
        # for a user deleted since. Only failures pay for this read.
        earlier = await _earlier(ctx, api_key, body.request_id, request_hash)
        if earlier is None:
            raise
        return earlier, "already accepted"
    stored = admission(
        api_key_id=api_key,
        body=body,
        request_hash=request_hash,
        plan=route,
        correlation_id=correlation_id,
    )
    if not await ctx.intake.admit(stored):
        # A replay stores nothing new, so it spends no rate limit either.
        await unlimit(ctx, api_key=str(api_key), user_id=str(body.user_id))
        earlier = await _earlier(ctx, api_key, body.request_id, request_hash)
        if earlier is None:  # stored a moment ago, and already gone
            raise HeraldError.conflict(f"request_id '{body.request_id}' is being reused")
        return earlier, "already accepted"
    admitted(stored)
    answer = stored.answer
    if answer["status"] == Status.SKIPPED:
        return answer, f"notification skipped: {answer['reason']}"
    return answer, "notification accepted"


async def _earlier(
    ctx: GatewayContext, api_key: uuid.UUID, request_id: str, request_hash: str
) -> dict[str, Any] | None:
    """The answer to a request_id already used, or None if it was not."""
    async with unit_of_work(ctx.sessions) as session:
        existing = await NotificationRepository(session).by_request(api_key, request_id)
    return None if existing is None else replay(existing, request_hash)
