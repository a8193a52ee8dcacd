"""Who is calling the gateway, and whether they may right now."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from herald.config import API_KEY_PREFIX
from herald.domain.errors import HeraldError
from herald.kit import auth
from herald.kit.deps import service_context
from herald.kit.ratelimit import too_many
from herald.ports import RateDecision, RateLimit
from herald.services.gateway.context import GatewayContext
from herald.services.gateway.models import Notification


def context(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.ctx
    return ctx


Ctx = Annotated[GatewayContext, Depends(service_context)]


async def caller(ctx: Ctx, authorization: Annotated[str | None, Header()] = None) -> auth.Principal:
    token = auth.bearer(authorization)
    if token.startswith(API_KEY_PREFIX):
        return await ctx.keys.verify(token)
    return auth.verify(ctx.signing.user, token)


Caller = Annotated[auth.Principal, Depends(caller)]


def key_id(who: auth.Principal) -> str:
    if not who.subject.startswith("apikey:"):
        raise HeraldError.forbidden("this endpoint takes an API key, not a user token")
    return who.subject.removeprefix("apikey:")


def _limits(ctx: GatewayContext, api_key: str, user_id: str) -> tuple[RateLimit, RateLimit]:
    return (
        RateLimit(ctx.rate_limit_per_key, f"key:{api_key}"),
        RateLimit(ctx.rate_limit_per_recipient, f"recipient:{user_id}"),
    )


async def unlimit(ctx: GatewayContext, *, api_key: str, user_id: str) -> None:
    """Give back what ``limit`` counted: the request was a replay, not a new send."""
    await ctx.limiter.refund(*_limits(ctx, api_key, user_id))


async def limit(ctx: GatewayContext, *, api_key: str, user_id: str) -> None:
    refusal = _refusal(await ctx.limiter.hit(*_limits(ctx, api_key, user_id)))
    if refusal is not None:
        raise refusal


async def limit_each(
    ctx: GatewayContext, *, api_key: str, recipients: list[str]
) -> list[HeraldError | None]:
    """``limit`` for each of a batch's recipients in turn, in one round trip: the
    error that refused each, or None."""
    decided = await ctx.limiter.hit_each([_limits(ctx, api_key, r) for r in recipients])
    return [_refusal(pair) for pair in decided]


def _refusal(decisions: list[RateDecision]) -> HeraldError | None:
    by_key, by_recipient = decisions
    if not by_key.allowed:
        return too_many("API key", by_key)
    if not by_recipient.allowed:
        return too_many("recipient", by_recipient)
    return None


def may_see(who: auth.Principal, n: Notification) -> bool:
    """An admin key sees every notification; any other key the ones it sent."""
    return who.is_admin or who.subject == f"apikey:{n.api_key_id}"
