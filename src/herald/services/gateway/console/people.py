"""Users (search, devices, preferences) and the suppression list."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from herald.services.gateway.console.pages import (
    PAGE_SIZE,
    CheckedForm,
    ConsoleDep,
    Session,
    back,
    listing,
    render,
)

router = APIRouter()


@router.get("/users")
async def users(
    request: Request, session: Session, c: ConsoleDep, q: str = "", page: int = 1
) -> Response:
    params = {"q": q.strip(), "page": max(1, page), "limit": PAGE_SIZE}
    return await listing(request, session, c, "users.html", "/api/v1/users/", params, q=q)


@router.get("/users/{user_id}")
async def user(request: Request, user_id: uuid.UUID, session: Session, c: ConsoleDep) -> Response:
    found = await c.api.get(f"/api/v1/users/{user_id}")
    devices = await c.api.get(f"/api/v1/users/{user_id}/devices")
    recent = await c.api.call(
        "GET", "/api/v1/notifications/", params={"user_id": str(user_id), "limit": 10}
    )
    feed = await c.api.call("GET", f"/api/v1/users/{user_id}/feed", params={"limit": 5})
    return render(
        request,
        "user.html",
        session,
        user=found,
        devices=devices,
        recent=recent.data,
        recent_total=recent.meta.get("total", 0),
        feed=feed.data,
        feed_meta=feed.meta,
    )


@router.get("/suppressions")
async def suppressions(
    request: Request, session: Session, c: ConsoleDep, page: int = 1
) -> Response:
    params = {"page": max(1, page), "limit": PAGE_SIZE}
    return await listing(request, session, c, "suppressions.html", "/api/v1/suppressions/", params)


@router.post("/suppressions/{suppression_id}/remove")
async def unsuppress(suppression_id: str, form: CheckedForm, c: ConsoleDep) -> Response:
    await c.api.call("DELETE", f"/api/v1/suppressions/{quote(suppression_id, safe='')}")
    return back("/console/suppressions", done="Removed from the suppression list.")
