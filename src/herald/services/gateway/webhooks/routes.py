"""Webhooks API (SPEC.md §6.3): admin keys only."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from herald.kit import auth
from herald.kit.deps import SessionDep
from herald.kit.envelope import ERROR_RESPONSES, Envelope, Page, PaginationMeta, ok
from herald.services.gateway.security import Caller, Ctx
from herald.services.gateway.webhooks import endpoints
from herald.services.gateway.webhooks.repository import EndpointRepository
from herald.services.gateway.webhooks.schemas import (
    AttemptOut,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecret,
    Queued,
)


def admin(who: Caller) -> auth.Principal:
    who.require("admin")
    return who


router = APIRouter(
    prefix="/api/v1/webhooks",
    tags=["webhooks"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(admin)],
)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook endpoint (its secret is shown now, and on rotation only)",
    response_model=Envelope[EndpointWithSecret],
)
async def create(body: EndpointIn, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    return ok(await endpoints.create(session, ctx, body), "webhook endpoint created")


@router.get("/", summary="List webhook endpoints", response_model=Envelope[list[EndpointOut]])
async def listing(session: SessionDep, page: Annotated[Page, Query()]) -> dict[str, Any]:
    rows, total = await EndpointRepository(session).page(offset=page.offset, limit=page.limit)
    return ok(
        [endpoints.out(e) for e in rows],
        "webhook endpoints",
        PaginationMeta.of(total=total, page=page.page, limit=page.limit),
    )


@router.get(
    "/{endpoint_id}", summary="Read a webhook endpoint", response_model=Envelope[EndpointOut]
)
async def read(endpoint_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    return ok(endpoints.out(await endpoints.find(session, endpoint_id)))


@router.patch(
    "/{endpoint_id}",
    summary="Change a webhook endpoint (enabling it again clears why it was disabled)",
    response_model=Envelope[EndpointOut],
)
async def change(
    endpoint_id: uuid.UUID, body: EndpointPatch, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    return ok(await endpoints.change(session, ctx, endpoint_id, body), "webhook endpoint changed")


@router.delete(
    "/{endpoint_id}",
    summary="Delete a webhook endpoint and its deliveries",
    response_model=Envelope[None],
)
async def delete(endpoint_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    await endpoints.delete(session, endpoint_id)
    return ok(None, "webhook endpoint deleted")


@router.post(
    "/{endpoint_id}/rotate_secret",
    summary="Give an endpoint a new secret; the old one keeps signing for 24 hours",
    response_model=Envelope[EndpointWithSecret],
)
async def rotate_secret(endpoint_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    return ok(await endpoints.rotate(session, endpoint_id), "secret rotated")


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a webhook.test event to this endpoint",
    response_model=Envelope[Queued],
)
async def test(endpoint_id: uuid.UUID, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    return ok(await endpoints.test(session, ctx, endpoint_id), "test event queued")


@router.get(
    "/{endpoint_id}/deliveries",
    summary="An endpoint's delivery attempts, newest first",
    response_model=Envelope[list[AttemptOut]],
)
async def deliveries(
    endpoint_id: uuid.UUID, session: SessionDep, page: Annotated[Page, Query()]
) -> dict[str, Any]:
    rows, total = await endpoints.attempts(
        session, endpoint_id, offset=page.offset, limit=page.limit
    )
    return ok(
        rows, "delivery attempts", PaginationMeta.of(total=total, page=page.page, limit=page.limit)
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again now, under the same webhook-id",
    response_model=Envelope[Queued],
)
async def retry(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    answer = await endpoints.retry(session, ctx, endpoint_id, delivery_id)
    return ok(answer, "delivery queued again")
