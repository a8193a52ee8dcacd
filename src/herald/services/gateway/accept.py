"""Accepting notifications: the application's one way to do it, whichever door they
came through (one request, or a batch of them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from herald.domain.errors import HeraldError
from herald.domain.statuses import Status
from herald.kit.db import unit_of_work
from herald.kit.envelope import CHECKED
from herald.kit.errors import describe_all
from herald.services.gateway import schemas
from herald.services.gateway.admission import Admission, Send, admission, admitted, fingerprint
from herald.services.gateway.clients import Directory
from herald.services.gateway.context import GatewayContext
from herald.services.gateway.presenters import replay
from herald.services.gateway.repositories import NotificationRepository
from herald.services.gateway.routing import Route, plan
from herald.services.gateway.security import limit, limit_each, unlimit


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
        await limit(ctx, api_key=str(api_key), user_id=body.recipient_key)
        route, send = await _prepared(ctx, body)
    except HeraldError:
        # A retry of a request accepted earlier gets its answer, not a 429 or a 404
        # for a user deleted since. Only failures pay for this read.
        earlier = await _earlier(ctx, api_key, body.request_id, request_hash)
        if earlier is None:
            raise
        return earlier, "already accepted"
    stored = admission(
        api_key_id=api_key,
        send=send,
        request_hash=request_hash,
        plan=route,
        correlation_id=correlation_id,
        clock=ctx.clock,
    )
    if not await ctx.intake.admit(stored):
        return await _stored_before(ctx, body, request_hash, api_key), "already accepted"
    _admitted(ctx, stored)
    answer = stored.answer
    if answer["status"] == Status.SKIPPED:
        return answer, f"notification skipped: {answer['reason']}"
    return answer, "notification accepted"


async def _prepared(
    ctx: GatewayContext, body: schemas.NotificationIn, directory: Directory | None = None
) -> tuple[Route, Send]:
    """Where it goes, and what is stored: a topic send counts its audience now.
    ``directory``: a batch's, read ahead."""
    if body.send_at is not None:
        latest = ctx.clock.now() + timedelta(days=schemas.MAX_SCHEDULE_AHEAD_DAYS)
        if body.send_at > latest:
            raise HeraldError.invalid(
                f"send_at: at most {schemas.MAX_SCHEDULE_AHEAD_DAYS} days ahead "
                f"(until {latest.isoformat(timespec='seconds')})"
            )
    route = await plan(directory or ctx.directory, body, allow_private=ctx.allow_private_targets)
    audience = None
    if body.topic is not None:
        audience = await ctx.fanout.audience(body.topic)
        if audience is None:
            raise HeraldError.not_found(f"topic '{body.topic}'")
    return route, Send.of(body, audience=audience)


def _admitted(ctx: GatewayContext, stored: Admission) -> None:
    admitted(stored)
    if stored.notification.topic is not None:
        ctx.fanout.wake()


async def _stored_before(
    ctx: GatewayContext, body: schemas.NotificationIn, request_hash: str, api_key: uuid.UUID
) -> dict[str, Any]:
    """The answer to a request whose request_id the store found already used: a replay
    stores nothing new, so it spends no rate limit either."""
    await unlimit(ctx, api_key=str(api_key), user_id=body.recipient_key)
    earlier = await _earlier(ctx, api_key, body.request_id, request_hash)
    if earlier is None:  # stored a moment ago, and already gone
        raise HeraldError.conflict(f"request_id '{body.request_id}' is being reused")
    return earlier


async def _earlier(
    ctx: GatewayContext, api_key: uuid.UUID, request_id: str, request_hash: str
) -> dict[str, Any] | None:
    """The answer to a request_id already used, or None if it was not."""
    async with unit_of_work(ctx.sessions) as session:
        existing = await NotificationRepository(session).by_request(api_key, request_id)
    return None if existing is None else replay(existing, request_hash)


async def accept_batch(
    ctx: GatewayContext,
    items: list[dict[str, Any]],
    *,
    api_key: uuid.UUID,
    correlation_id: str | None,
) -> list[dict[str, Any]]:
    """Each item accepted or refused on its own, as a single send would be; the
    accepted ones stored in one transaction. One result per item, in input order."""
    if len(items) > schemas.MAX_BATCH:
        raise HeraldError(413, f"a batch holds at most {schemas.MAX_BATCH} notifications")
    # Rate limits are counted in input order, so that past a limit it is the later
    # items that wait; users and templates are then looked up for all items at once.
    limited = await _limited(ctx, items, api_key)
    bodies = [
        b for _, b, refused in limited if isinstance(b, schemas.NotificationIn) and not refused
    ]
    directory = await ctx.directory.for_batch(
        user_ids=[str(b.user_id) for b in bodies if b.user_id is not None],
        templates=[(b.template_code, b.notification_type) for b in bodies],
        addresses=[(b.to.channel, b.to.address) for b in bodies if b.to is not None],
    )
    # One after another: with everything read ahead, judging an item rarely waits,
    # and a thousand tasks side by side cost more than the judging.
    judged = [await _judge(ctx, item, api_key, correlation_id, directory) for item in limited]
    results = {r["index"]: r for r in judged if isinstance(r, dict)}
    planned = [p for p in judged if isinstance(p, _Planned)]
    stored = await ctx.intake.admit_together([p.admission for p in planned])
    for p, outcome in zip(planned, stored, strict=True):
        results[p.index] = await _settled(ctx, p, outcome, api_key)
    return [results[i] for i in range(len(items))]


@dataclass(frozen=True, slots=True)
class _Planned:
    index: int
    body: schemas.NotificationIn
    request_hash: str
    admission: Admission


def _item(
    index: int, code: int, *, notification_id: Any = None, error: str | None = None
) -> dict[str, Any]:
    """One item's result, as ``schemas.BatchItem`` shows it (built as the dict the
    answer is written from: a batch makes a thousand)."""
    shown = None if notification_id is None else str(notification_id)
    return {"index": index, "status_code": code, "notification_id": shown, "error": error}


_Limited = tuple[int, schemas.NotificationIn | dict[str, Any], HeraldError | None]


async def _limited(
    ctx: GatewayContext, items: list[dict[str, Any]], api_key: uuid.UUID
) -> list[_Limited]:
    """Each item validated, and the valid ones counted against the rate limits in
    input order, in one round trip (each with the error that refused it, if any)."""
    parsed: list[schemas.NotificationIn | dict[str, Any]] = []
    for index, raw in enumerate(items):
        try:
            # The batch's body was checked for what cannot be stored as a whole.
            parsed.append(schemas.NotificationIn.model_validate(raw, context={CHECKED: True}))
        except ValidationError as exc:
            parsed.append(_item(index, 422, error=describe_all(exc.errors())))
    valid = [b for b in parsed if isinstance(b, schemas.NotificationIn)]
    refusals = iter(
        await limit_each(ctx, api_key=str(api_key), recipients=[b.recipient_key for b in valid])
    )
    return [
        (i, b, next(refusals) if isinstance(b, schemas.NotificationIn) else None)
        for i, b in enumerate(parsed)
    ]


async def _judge(
    ctx: GatewayContext,
    item: _Limited,
    api_key: uuid.UUID,
    correlation_id: str | None,
    directory: Directory,
) -> _Planned | dict[str, Any]:
    index, body, refusal = item
    if isinstance(body, dict):
        return body  # refused by validation
    request_hash = fingerprint(body)
    if refusal is None:
        try:
            route, send = await _prepared(ctx, body, directory)
        except HeraldError as exc:
            refusal = exc
    if refusal is not None:
        return await _replayed(ctx, index, body, request_hash, api_key, refusal)
    stored = admission(
        api_key_id=api_key,
        send=send,
        request_hash=request_hash,
        plan=route,
        correlation_id=correlation_id,
        clock=ctx.clock,
    )
    return _Planned(index, body, request_hash, stored)


async def _replayed(
    ctx: GatewayContext,
    index: int,
    body: schemas.NotificationIn,
    request_hash: str,
    api_key: uuid.UUID,
    refusal: HeraldError,
) -> dict[str, Any]:
    """An item whose request_id was used before gets that answer; else ``refusal``."""
    try:
        earlier = await _earlier(ctx, api_key, body.request_id, request_hash)
    except HeraldError as exc:  # the same request_id with another body
        return _item(index, exc.status_code, error=exc.error)
    if earlier is None:
        return _item(index, refusal.status_code, error=refusal.error)
    return _item(index, 202, notification_id=earlier["notification_id"])


async def _settled(
    ctx: GatewayContext, p: _Planned, outcome: bool | HeraldError, api_key: uuid.UUID
) -> dict[str, Any]:
    if isinstance(outcome, HeraldError):
        return _item(p.index, outcome.status_code, error=outcome.error)
    if outcome:
        _admitted(ctx, p.admission)
        return _item(p.index, 202, notification_id=p.admission.notification.id)
    # Its request_id was stored already (by an earlier request, or an item before it).
    try:
        earlier = await _stored_before(ctx, p.body, p.request_hash, api_key)
    except HeraldError as exc:
        return _item(p.index, exc.status_code, error=exc.error)
    return _item(p.index, 202, notification_id=earlier["notification_id"])
