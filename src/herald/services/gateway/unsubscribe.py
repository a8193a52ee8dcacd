"""One-click unsubscribe (RFC 8058): the link in every mail's List-Unsubscribe header.

GET shows a page with a button, and changes nothing: mail scanners follow links.
POST (what a mail client sends, with ``List-Unsubscribe=One-Click``) turns the channel
off for that user.
"""

from __future__ import annotations

import html
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from herald.domain import webhooks
from herald.domain.clock import utcnow
from herald.domain.errors import HeraldError
from herald.kit import auth
from herald.kit.db import unit_of_work
from herald.kit.envelope import ERROR_RESPONSES, ok
from herald.services.gateway.security import Ctx
from herald.services.gateway.webhooks import events as webhook_events

router = APIRouter(prefix="/api/v1/unsubscribe", tags=["unsubscribe"], responses=ERROR_RESPONSES)


def _subject(ctx: Ctx, token: str) -> tuple[str, str, str | None]:
    """Whom the link unsubscribes and from which channel: ``(user id, channel)``, or
    ``("address:" + address, channel)`` for mail sent to an address directly; and the
    notification the link came in, when it says."""
    # Links mailed before keys were derived were signed with the secret itself.
    signing = ctx.signing
    accepted = [signing.unsubscribe, *([signing.legacy] if signing.legacy else [])]
    who = auth.verify(accepted, token, audience=auth.UNSUBSCRIBE)
    if who.subject.startswith(_ADDRESS):
        channel, _, address = who.subject.removeprefix(_ADDRESS).partition(":")
        if channel != "email" or not address:
            raise HeraldError.unauthorized("unsubscribe link is not valid")
        return _ADDRESS + address, channel, who.reference
    user_id, _, channel = who.subject.partition(":")
    if channel not in ("email", "push"):
        raise HeraldError.unauthorized("unsubscribe link is not valid")
    return user_id, channel, who.reference


_ADDRESS = "address:"


async def _report(ctx: Ctx, reference: str | None) -> None:
    """``notification.unsubscribed`` about the notification the link came in. Written
    after the users service recorded the change (a second database): should this fail,
    the unsubscribe stands, and the link clicked again reports it."""
    try:
        notification_id = uuid.UUID(reference or "")
    except ValueError:
        return  # a link from before links named their notification
    async with unit_of_work(ctx.sessions) as session:
        await webhook_events.about(session, notification_id, webhooks.UNSUBSCRIBED, utcnow())


@router.get(
    "/{token}",
    summary="Confirm turning a channel off",
    response_class=Response,  # errors stay JSON; the page is declared below
    responses={
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "a page with an unsubscribe button",
        }
    },
)
async def confirm(token: str, ctx: Ctx) -> HTMLResponse:
    _, channel, _ = _subject(ctx, token)
    page = (
        f"<!doctype html><meta charset=utf-8><title>Unsubscribe</title>"
        f"<p>Stop receiving {html.escape(channel)} notifications?</p>"
        f"<form method=post><button name=List-Unsubscribe value=One-Click>"
        f"Unsubscribe</button></form>"
    )
    return HTMLResponse(page)


@router.post("/{token}", summary="Turn a channel off (RFC 8058 one-click)")
async def unsubscribe(token: str, ctx: Ctx) -> dict[str, Any]:
    user_id, channel, reference = _subject(ctx, token)
    if user_id.startswith(_ADDRESS):
        await ctx.directory.suppress(channel, user_id.removeprefix(_ADDRESS), "unsubscribed")
        await _report(ctx, reference)
        return ok({"channel": channel, "subscribed": False}, f"{channel} to this address stopped")
    response = await ctx.directory.users.post_json(
        f"/internal/users/{user_id}/unsubscribe", {"channel": channel}
    )
    if response.status_code == 404:
        raise HeraldError.not_found(f"user {user_id}")
    if response.status_code >= 400:
        raise HeraldError.unavailable("the users service could not record the change")
    await _report(ctx, reference)
    return ok(
        {"user_id": user_id, "channel": channel, "subscribed": False},
        f"{channel} notifications turned off",
    )
