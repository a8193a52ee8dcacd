"""API keys, webhooks and dead letters: what an operator creates, revokes, retries or
replays. Keys and dead letters go through the same application services as
``herald keys`` and ``herald dlq``; webhooks through the API."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from herald.config import API_KEY_SCOPES
from herald.delivery import dead_letters
from herald.domain.errors import HeraldError
from herald.domain.webhooks import EVENT_TYPES
from herald.kit.db import unit_of_work
from herald.services.gateway import keys
from herald.services.gateway.console.pages import (
    CheckedForm,
    ConsoleDep,
    Session,
    back,
    listing,
    render,
)
from herald.services.gateway.console.session import ConsoleSession
from herald.services.gateway.keys import KeyAdmin
from herald.services.gateway.repositories import ApiKeyRepository
from herald.services.gateway.security import Ctx

router = APIRouter()


async def _keys_page(
    request: Request, session: ConsoleSession, c: ConsoleDep, ctx: Ctx, **shown: Any
) -> Response:
    async with unit_of_work(ctx.sessions) as db:
        rows = await KeyAdmin(db).listing()
    own = keys.prefix(c.key)
    return render(request, "keys.html", session, rows=rows, scopes=API_KEY_SCOPES, own=own, **shown)


@router.get("/keys")
async def key_list(request: Request, session: Session, c: ConsoleDep, ctx: Ctx) -> Response:
    return await _keys_page(request, session, c, ctx)


@router.post("/keys")
async def create_key(
    request: Request, session: Session, form: CheckedForm, c: ConsoleDep, ctx: Ctx
) -> Response:
    name, scopes = form.get("name").strip(), form.all("scope")
    problem = (
        "give the key a name (1 to 200 characters)"
        if not 0 < len(name) <= 200
        else "choose at least one scope"
        if not scopes
        else None
    )
    if problem is None and set(scopes) - set(API_KEY_SCOPES):
        problem = f"unknown scope: one of {', '.join(API_KEY_SCOPES)}"
    if problem is not None:
        return await _keys_page(request, session, c, ctx, error=problem)
    async with unit_of_work(ctx.sessions) as db:
        made = await KeyAdmin(db).create(name=name, scopes=scopes)
    # Shown on this page once, never in a URL, never again.
    return await _keys_page(request, session, c, ctx, made=made)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: uuid.UUID, form: CheckedForm, c: ConsoleDep, ctx: Ctx) -> Response:
    async with unit_of_work(ctx.sessions) as db:
        own = await ApiKeyRepository(db).by_hash(keys.digest(c.key))
        if own is not None and own.id == key_id:
            raise HeraldError.conflict("the console's own key is not revoked from the console")
        await KeyAdmin(db).revoke(key_id)
    return back("/console/keys", done="Key revoked: it stops working within 10 seconds.")


@router.get("/webhooks")
async def webhooks(request: Request, session: Session, c: ConsoleDep, page: int = 1) -> Response:
    params = {"page": max(1, page), "limit": 50}
    return await listing(
        request, session, c, "webhooks.html", "/api/v1/webhooks/", params, events=EVENT_TYPES
    )


@router.post("/webhooks")
async def create_webhook(
    request: Request, session: Session, form: CheckedForm, c: ConsoleDep
) -> Response:
    body = {
        "url": form.get("url").strip(),
        "events": form.all("event"),
        "description": form.get("description") or None,
    }
    try:
        made = (await c.api.call("POST", "/api/v1/webhooks/", json=body)).data
    except HeraldError as exc:
        if exc.status_code >= 500:
            raise
        refused = await listing(
            request,
            session,
            c,
            "webhooks.html",
            "/api/v1/webhooks/",
            {"limit": 50},
            events=EVENT_TYPES,
            error=exc.error,
            given=body,
        )
        refused.status_code = exc.status_code
        return refused
    return await _webhook_page(request, session, c, made["id"], made=made)


async def _webhook_page(
    request: Request,
    session: ConsoleSession,
    c: ConsoleDep,
    endpoint_id: object,
    page: int = 1,
    **shown: Any,
) -> Response:
    endpoint = await c.api.get(f"/api/v1/webhooks/{endpoint_id}")
    path = f"/api/v1/webhooks/{endpoint_id}/deliveries"
    params = {"page": max(1, page), "limit": 25}
    return await listing(
        request, session, c, "webhook.html", path, params, endpoint=endpoint, **shown
    )


@router.get("/webhooks/{endpoint_id}")
async def webhook(
    request: Request, endpoint_id: uuid.UUID, session: Session, c: ConsoleDep, page: int = 1
) -> Response:
    return await _webhook_page(request, session, c, endpoint_id, page)


@router.post("/webhooks/{endpoint_id}/enabled")
async def toggle_webhook(endpoint_id: uuid.UUID, form: CheckedForm, c: ConsoleDep) -> Response:
    enabled = form.get("enabled") == "true"
    await c.api.call("PATCH", f"/api/v1/webhooks/{endpoint_id}", json={"enabled": enabled})
    return back(f"/console/webhooks/{endpoint_id}", done="Enabled." if enabled else "Disabled.")


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry")
async def retry_webhook(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, form: CheckedForm, c: ConsoleDep
) -> Response:
    await c.api.call("POST", f"/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry")
    return back(f"/console/webhooks/{endpoint_id}", done="Queued again, under the same webhook-id.")


@router.get("/dead-letters")
async def dead(request: Request, session: Session, ctx: Ctx) -> Response:
    letters = await dead_letters.listing(ctx.broker)
    return render(request, "dead_letters.html", session, letters=[asdict(d) for d in letters])


@router.post("/dead-letters/replay")
async def replay(form: CheckedForm, ctx: Ctx) -> Response:
    chosen = form.get("notification_id") or None
    done = await dead_letters.replay(ctx.broker, notification_id=chosen)
    return back("/console/dead-letters", done=f"{len(done)} sent back to their queue.")


@router.post("/dead-letters/purge")
async def purge(form: CheckedForm, ctx: Ctx) -> Response:
    done = await dead_letters.purge(ctx.broker)
    return back("/console/dead-letters", done=f"{len(done)} dropped for good.")
