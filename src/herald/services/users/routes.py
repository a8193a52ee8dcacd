"""Users API (SPEC.md §3 "Users"). Routes parse, authorise and hand over to handlers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status

from herald.domain.errors import HeraldError
from herald.domain.statuses import Channel
from herald.kit.app import CLIENT_ADDRESS_HEADER
from herald.kit.auth import Principal
from herald.kit.deps import PrincipalDep, SessionDep, service_context
from herald.kit.envelope import ERROR_RESPONSES, Envelope, Page, PaginationMeta, ok
from herald.services.users import handlers, schemas
from herald.services.users.handlers import UsersContext
from herald.services.users.presenters import device_out, suppression_out, user_out
from herald.services.users.repositories import SuppressionRepository, UserRepository

router = APIRouter(prefix="/api/v1", tags=["users"], responses=ERROR_RESPONSES)
internal = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


Ctx = Annotated[UsersContext, Depends(service_context)]


async def _caller(who: PrincipalDep, session: SessionDep) -> Principal:
    """The caller; a user's token only while its version is the user's (a password
    change raises it and so revokes every token signed before)."""
    if who.user_id is not None:
        try:
            user_id = uuid.UUID(who.user_id)
        except ValueError:
            raise HeraldError.unauthorized("token is not valid")
        if await UserRepository(session).token_version(user_id) != who.version:
            raise HeraldError.unauthorized("token has been revoked")
    return who


Caller = Annotated[Principal, Depends(_caller)]


@router.post(
    "/users/",
    status_code=status.HTTP_201_CREATED,
    summary="Create a user",
    response_model=Envelope[schemas.UserOut],
)
async def create_user(
    body: schemas.UserCreate, session: SessionDep, who: Caller, ctx: Ctx
) -> dict[str, Any]:
    who.require("admin")
    user = await handlers.create_user(session, ctx, body)
    return ok(user_out(user), "user created")


@router.get("/users/", summary="List users", response_model=Envelope[list[schemas.UserOut]])
async def list_users(
    session: SessionDep,
    who: Caller,
    page: Annotated[Page, Query()],
    q: Annotated[
        str | None, Query(max_length=320, description="a part of the name or the email")
    ] = None,
) -> dict[str, Any]:
    who.require("admin")
    users, total = await UserRepository(session).page(
        offset=page.offset, limit=page.limit, search=q
    )
    return ok(
        [user_out(u) for u in users],
        "users",
        PaginationMeta.of(total=total, page=page.page, limit=page.limit),
    )


@router.get("/users/{user_id}", summary="Read a user", response_model=Envelope[schemas.UserOut])
async def get_user(user_id: uuid.UUID, session: SessionDep, who: Caller) -> dict[str, Any]:
    who.require_self_or_admin(str(user_id))
    return ok(user_out(await handlers.get_user(session, user_id)))


@router.patch(
    "/users/{user_id}",
    summary="Change some of a user's fields",
    response_model=Envelope[schemas.UserOut],
)
async def update_user(
    user_id: uuid.UUID, body: schemas.UserUpdate, session: SessionDep, who: Caller, ctx: Ctx
) -> dict[str, Any]:
    who.require_self_or_admin(str(user_id))
    if body.role is not None:
        who.require("admin")  # a user may not make themself an admin
    return ok(user_out(await handlers.update_user(session, ctx, user_id, body)), "user updated")


@router.delete(
    "/users/{user_id}", summary="Delete a user and their devices", response_model=Envelope[None]
)
async def delete_user(
    user_id: uuid.UUID, session: SessionDep, who: Caller, ctx: Ctx
) -> dict[str, Any]:
    who.require_self_or_admin(str(user_id))
    await handlers.delete_user(session, ctx, user_id)
    return ok(None, "user deleted")


@router.put(
    "/users/{user_id}/preferences",
    summary="Turn channels on or off",
    response_model=Envelope[schemas.Preferences],
)
async def set_preferences(
    user_id: uuid.UUID, body: schemas.Preferences, session: SessionDep, who: Caller, ctx: Ctx
) -> dict[str, Any]:
    who.require_self_or_admin(str(user_id))
    user = await handlers.set_preferences(session, ctx, user_id, body)
    return ok(user_out(user)["preferences"], "preferences updated")


@router.post(
    "/users/{user_id}/devices",
    status_code=status.HTTP_201_CREATED,
    summary="Register a push device",
    response_model=Envelope[schemas.DeviceOut],
)
async def add_device(
    user_id: uuid.UUID, body: schemas.DeviceIn, session: SessionDep, who: Caller, ctx: Ctx
) -> dict[str, Any]:
    who.require_self_or_admin(str(user_id))
    return ok(
        device_out(await handlers.add_device(session, ctx, user_id, body)), "device registered"
    )


@router.get(
    "/users/{user_id}/devices",
    summary="List a user's push devices",
    response_model=Envelope[list[schemas.DeviceOut]],
)
async def list_devices(user_id: uuid.UUID, session: SessionDep, who: Caller) -> dict[str, Any]:
    who.require_self_or_admin(str(user_id))
    await handlers.get_user(session, user_id)
    return ok([device_out(d) for d in await UserRepository(session).devices(user_id)])


@router.delete(
    "/users/{user_id}/devices/{device_id}",
    summary="Remove a push device",
    response_model=Envelope[None],
)
async def remove_device(
    user_id: uuid.UUID, device_id: uuid.UUID, session: SessionDep, who: Caller, ctx: Ctx
) -> dict[str, Any]:
    who.require_self_or_admin(str(user_id))
    await handlers.remove_device(session, ctx, user_id, device_id)
    return ok(None, "device removed")


@router.post(
    "/auth/login",
    summary="Exchange email and password for a user token",
    tags=["auth"],
    response_model=Envelope[schemas.TokenOut],
)
async def login(
    body: schemas.Login, request: Request, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    # Behind the gateway the client is the one it names; called directly, the peer.
    client = request.headers.get(CLIENT_ADDRESS_HEADER) or (
        request.client.host if request.client else "unknown"
    )
    return ok(await handlers.login(session, ctx, body, client=client), "logged in")


@router.get(
    "/suppressions/",
    tags=["suppressions"],
    summary="List the addresses direct sends skip",
    response_model=Envelope[list[schemas.SuppressionOut]],
)
async def list_suppressions(
    session: SessionDep,
    who: Caller,
    page: Annotated[Page, Query()],
    channel: Channel | None = None,
) -> dict[str, Any]:
    who.require("admin")
    rows, total = await SuppressionRepository(session).page(
        channel=channel, offset=page.offset, limit=page.limit
    )
    return ok(
        [suppression_out(r) for r in rows],
        "suppressions",
        PaginationMeta.of(total=total, page=page.page, limit=page.limit),
    )


@router.post(
    "/suppressions/",
    tags=["suppressions"],
    status_code=status.HTTP_201_CREATED,
    summary="Suppress an address (an address already suppressed keeps its first reason)",
    response_model=Envelope[schemas.SuppressionOut],
)
async def add_suppression(
    body: schemas.SuppressionIn, session: SessionDep, who: Caller, ctx: Ctx
) -> dict[str, Any]:
    who.require("admin")
    entry = await handlers.suppress(session, ctx, body.channel, body.address, body.reason)
    return ok(suppression_out(entry), "address suppressed")


@router.delete(
    "/suppressions/{suppression_id}",
    tags=["suppressions"],
    summary="Send to a suppressed address again",
    response_model=Envelope[None],
)
async def remove_suppression(
    suppression_id: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    session: SessionDep,
    who: Caller,
    ctx: Ctx,
) -> dict[str, Any]:
    who.require("admin")
    await handlers.unsuppress(session, ctx, suppression_id)
    return ok(None, "suppression removed")


async def _service(who: PrincipalDep) -> None:
    if not who.subject.startswith("service:"):
        raise HeraldError.forbidden("internal endpoint")


Service = Depends(_service)


@internal.get("/users/{user_id}/contact", dependencies=[Service])
async def contact(user_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    return ok(await handlers.contact(session, user_id))


@internal.post("/devices/{device_id}/invalidate", dependencies=[Service])
async def invalidate(
    device_id: uuid.UUID, body: schemas.InvalidateDevice, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    await handlers.invalidate_device(session, ctx, device_id, body.reason)
    return ok(None, "device invalidated")


@internal.post("/users/{user_id}/unsubscribe", dependencies=[Service])
async def unsubscribe(
    user_id: uuid.UUID, body: schemas.Unsubscribe, session: SessionDep, ctx: Ctx
) -> dict[str, Any]:
    user = await handlers.unsubscribe(session, ctx, user_id, body.channel)
    return ok(user_out(user)["preferences"], "unsubscribed")


@internal.post("/bounces", dependencies=[Service])
async def bounce(body: schemas.Bounce, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    user = await handlers.record_bounce(session, ctx, body.email, body.reason)
    return ok({"user_id": str(user.id) if user else None}, "bounce recorded")


@internal.get("/suppressions", dependencies=[Service])
async def suppressed(channel: Channel, address: str, session: SessionDep) -> dict[str, Any]:
    return ok({"reason": await handlers.suppressed(session, channel, address)})


@internal.post("/suppressions/lookup", dependencies=[Service])
async def suppressed_many(body: schemas.AddressesIn, session: SessionDep) -> dict[str, Any]:
    """Of ``addresses``, those suppressed, with why: ``{address: reason}``."""
    return ok(await handlers.suppressed_many(session, body.channel, body.addresses))


@internal.post("/suppressions", dependencies=[Service])
async def suppress(body: schemas.SuppressionIn, session: SessionDep, ctx: Ctx) -> dict[str, Any]:
    entry = await handlers.suppress(session, ctx, body.channel, body.address, body.reason)
    return ok(suppression_out(entry), "address suppressed")


@internal.post("/users/contacts", dependencies=[Service])
async def contacts(body: schemas.UserIds, session: SessionDep) -> dict[str, Any]:
    return ok(await handlers.contacts(session, body.user_ids))


@internal.post("/users/unknown", dependencies=[Service])
async def unknown(body: schemas.UserIds, session: SessionDep) -> dict[str, Any]:
    found = await UserRepository(session).known(body.user_ids)
    return ok([str(u) for u in body.user_ids if u not in found])
