"""Notifications API (SPEC.md §3 "Notifications"). Routes parse and hand over."""

from __future__ import annotations

import importlib.metadata
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from herald.domain.errors import HeraldError
from herald.domain.statuses import Channel, Status
from herald.kit.deps import SessionDep
from herald.kit.envelope import ERROR_RESPONSES, Envelope, Page, PaginationMeta, ok
from herald.services.gateway import reports, schedules, schemas
from herald.services.gateway.accept import accept, accept_batch
from herald.services.gateway.presenters import notification_out
from herald.services.gateway.repositories import NotificationRepository
from herald.services.gateway.security import Caller, Ctx, key_id, may_see

router = APIRouter(prefix="/api/v1", tags=["notifications"], responses=ERROR_RESPONSES)


@router.post(
    "/notifications/",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Accept a notification for delivery",
    response_model=Envelope[schemas.Accepted],
)
async def send(
    body: schemas.NotificationIn, request: Request, who: Caller, ctx: Ctx
) -> dict[str, Any] | JSONResponse:
    who.require("send")
    answer, message = await accept(
        ctx,
        body,
        api_key=uuid.UUID(key_id(who)),
        correlation_id=getattr(request.state, "request_id", None),
    )
    # The answer was built from the response model already: returned as a response, it
    # is not validated and serialized a second time on the busiest route.
    return JSONResponse(ok(answer, message), status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/notifications/batch",
    status_code=status.HTTP_207_MULTI_STATUS,
    summary="Accept up to 1,000 notifications, each judged on its own",
    response_model=Envelope[list[schemas.BatchItem]],
)
async def send_batch(
    body: schemas.BatchIn, request: Request, who: Caller, ctx: Ctx
) -> JSONResponse:
    """Each item is admitted or refused on its own (validation, idempotency by its
    ``request_id``, rate limits counting each item), and the admitted ones are stored
    in one transaction: ``data`` holds one result per item, in input order."""
    who.require("send")
    results = await accept_batch(
        ctx,
        body.notifications,
        api_key=uuid.UUID(key_id(who)),
        correlation_id=getattr(request.state, "request_id", None),
    )
    admitted = sum(1 for r in results if r["status_code"] == 202)
    message = f"{admitted} of {len(results)} accepted"
    return JSONResponse(ok(results, message), status_code=status.HTTP_207_MULTI_STATUS)


@router.get("/", summary="Where things are: the version and links to the docs")
async def index(request: Request) -> dict[str, Any]:
    pages = {
        "docs": "/docs",
        "redoc": "/redoc",
        "openapi": "/openapi.json",
        "notifications": "/api/v1/notifications/",
        "users": "/api/v1/users/",
        "templates": "/api/v1/templates/",
    }
    if getattr(request.app.state, "inbox", False):
        pages["inbox"] = "/dev/inbox"  # herald dev's captured mail and push
    base = str(request.base_url).rstrip("/")
    links = {name: base + path for name, path in pages.items()}
    return ok({"name": "Herald", "version": _VERSION, "links": links})


_VERSION = importlib.metadata.version("herald")


@router.get(
    "/push/vapid_public_key",
    tags=["push"],
    summary="The VAPID public key browsers subscribe with (applicationServerKey)",
)
async def vapid_public_key(ctx: Ctx) -> dict[str, Any]:
    if ctx.vapid_public_key is None:
        raise HeraldError.not_found("Web Push is not configured (no VAPID key)")
    return ok({"public_key": ctx.vapid_public_key})


@router.get(
    "/notifications/{notification_id}",
    summary="A notification with its history",
    response_model=Envelope[schemas.NotificationOut],
)
async def get_notification(
    notification_id: uuid.UUID, session: SessionDep, who: Caller
) -> dict[str, Any]:
    key_id(who)
    repo = NotificationRepository(session)
    n = await repo.get(notification_id)
    if n is None or not may_see(who, n):
        raise HeraldError.not_found(f"notification {notification_id}")
    return ok(notification_out(n, await repo.history(n.id)))


@router.get(
    "/notifications/",
    summary="List notifications",
    response_model=Envelope[list[schemas.NotificationOut]],
)
async def list_notifications(
    session: SessionDep,
    who: Caller,
    page: Annotated[Page, Query()],
    user_id: uuid.UUID | None = None,
    status: Status | None = None,
    notification_type: Channel | None = None,
    parent_id: Annotated[
        uuid.UUID | None, Query(description="a topic send's id: the children it made")
    ] = None,
    template_code: Annotated[str | None, Query(max_length=100)] = None,
    request_id: Annotated[str | None, Query(max_length=200)] = None,
    created_after: Annotated[
        AwareDatetime | None, Query(description="created at or after (ISO 8601 with zone)")
    ] = None,
    created_before: Annotated[
        AwareDatetime | None, Query(description="created before (ISO 8601 with zone)")
    ] = None,
) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if not who.is_admin:
        filters["api_key_id"] = uuid.UUID(key_id(who))
    if user_id is not None:
        filters["user_id"] = user_id
    if parent_id is not None:
        filters["parent_id"] = parent_id
    if status is not None:
        filters["status"] = status.value
    if notification_type is not None:
        filters["channel"] = notification_type.value
    if template_code is not None:
        filters["template_code"] = template_code
    if request_id is not None:
        filters["request_id"] = request_id
    rows, total = await NotificationRepository(session).page(
        filters=filters,
        offset=page.offset,
        limit=page.limit,
        after=_utc(created_after),
        before=_utc(created_before),
    )
    return ok(
        [notification_out(n) for n in rows],
        "notifications",
        PaginationMeta.of(total=total, page=page.page, limit=page.limit),
    )


def _utc(moment: datetime | None) -> datetime | None:
    # Stored times are UTC: on SQLite they compare as text, so every offset must be one.
    return None if moment is None else moment.astimezone(UTC)


@router.post(
    "/notifications/{notification_id}/cancel",
    summary="Cancel a scheduled notification",
    response_model=Envelope[schemas.NotificationOut],
)
async def cancel(notification_id: uuid.UUID, who: Caller, ctx: Ctx) -> dict[str, Any]:
    """A notification waiting for its ``send_at``, for the end of quiet hours or in a
    digest window becomes ``cancelled`` and is never sent (a digest whose every member
    was cancelled sends nothing). Anything else is a 409: it is on its way already."""
    who.require("send")
    return ok(await schedules.cancel(ctx, who, notification_id), "notification cancelled")


@router.post(
    "/{notification_preference}/status/",
    tags=["status"],
    summary="Report a delivery outcome (workers and external providers)",
    response_model=Envelope[schemas.NotificationOut],
)
async def report_status(
    notification_preference: Literal["email", "push", "sms"],
    body: schemas.StatusReport,
    who: Caller,
    ctx: Ctx,
) -> dict[str, Any]:
    """Record an outcome. For email, ``failed`` is a hard bounce: the address is marked
    bouncing and later email to it is skipped until the user changes it. Reporting the
    status a notification already has changes nothing and succeeds. A key reports on
    the notifications it sent itself (give it both scopes); an admin key on any."""
    who.require("status")
    data = await reports.report(ctx, who, notification_preference, body)
    return ok(data, "status recorded")
