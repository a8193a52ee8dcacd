"""The in-app feed API (``/api/v1/users/{user_id}/feed…``): a user's items, marking
them, and the live stream. Served by the gateway, before the users service's routes
are proxied, to the user's own token (a login token or a feed token) or an admin key."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, status
from fastapi.responses import StreamingResponse

from herald.config import API_KEY_PREFIX
from herald.domain.errors import HeraldError
from herald.kit import auth
from herald.kit.envelope import ERROR_RESPONSES, Envelope, Page, PaginationMeta, ok
from herald.services.gateway.feed import schemas
from herald.services.gateway.feed.store import FeedStatus, Mark, item_out
from herald.services.gateway.feed.stream import events
from herald.services.gateway.security import Ctx

router = APIRouter(prefix="/api/v1/users", tags=["feed"], responses=ERROR_RESPONSES)
# Streams stay open: they are bounded by HERALD_FEED_MAX_STREAMS, not by the
# requests-in-progress limit that short requests share.
STREAM_PATH = r"/api/v1/users/[^/]+/feed/stream"


async def _reader(
    user_id: uuid.UUID, ctx: Ctx, authorization: Annotated[str | None, Header()] = None
) -> auth.Principal:
    token = auth.bearer(authorization)
    if token.startswith(API_KEY_PREFIX):
        who = await ctx.keys.verify(token)
        if not who.is_admin:
            raise HeraldError.forbidden("a feed is read with its user's token or an admin key")
        return who
    try:
        who = auth.verify(ctx.signing.user, token)
    except HeraldError:
        who = auth.verify(ctx.signing.user, token, audience=auth.FEED)
    who.require_self_or_admin(str(user_id))
    return who


Reader = Annotated[auth.Principal, Depends(_reader)]


@router.get(
    "/{user_id}/feed",
    summary="A user's in-app feed, newest first, with the unread count",
    response_model=schemas.FeedPage,
)
async def list_feed(
    user_id: uuid.UUID,
    _: Reader,
    ctx: Ctx,
    page: Annotated[Page, Query()],
    status: Annotated[
        FeedStatus | None, Query(description="omitted: unread and read, not archived")
    ] = None,
) -> dict[str, Any]:
    items, total, unread, last = await ctx.feeds.page(
        user_id, status, offset=page.offset, limit=page.limit
    )
    paging = PaginationMeta.of(total=total, page=page.page, limit=page.limit)
    meta = schemas.FeedMeta(**paging.model_dump(), unread=unread, last_event_id=last)
    return ok([item_out(i) for i in items], "feed", meta)


@router.get(
    "/{user_id}/feed/stream",
    summary="New feed items and the unread count, as Server-Sent Events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_feed(
    user_id: uuid.UUID,
    _: Reader,
    ctx: Ctx,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="the seq of the last item received: those after it come first",
        ),
    ] = None,
) -> StreamingResponse:
    """Events: ``item`` (id: the item's seq; data: the item) and ``unread`` (data:
    ``{"unread": n}``), first on connecting and whenever it changes. Without
    Last-Event-ID the stream starts from now."""
    ctx.hub.make_room()
    if last_event_id is not None and not last_event_id.strip().isdigit():
        raise HeraldError.invalid("Last-Event-ID must be the seq of a feed item")
    after = (
        int(last_event_id.strip())
        if last_event_id is not None
        else await ctx.feeds.last_seq(user_id)
    )
    return StreamingResponse(
        events(ctx.feeds, ctx.hub, user_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _changed(ctx: Ctx, user_id: uuid.UUID) -> int:
    await ctx.hub.publish(str(user_id))
    return await ctx.feeds.unread(user_id)


@router.post(
    "/{user_id}/feed/read_all",
    summary="Mark every unread item read",
    response_model=Envelope[schemas.FeedCount],
)
async def read_all(user_id: uuid.UUID, _: Reader, ctx: Ctx) -> dict[str, Any]:
    changed = await ctx.feeds.read_all(user_id)
    data = schemas.FeedCount(unread=await _changed(ctx, user_id), changed=changed)
    return ok(data.model_dump(), f"{changed} marked read")


@router.post(
    "/{user_id}/feed/token",
    status_code=status.HTTP_201_CREATED,
    summary="A token for one user's feed, to hand to their browser (admin key)",
    response_model=Envelope[schemas.FeedTokenOut],
)
async def feed_token(
    user_id: uuid.UUID, who: Reader, ctx: Ctx, body: schemas.FeedTokenIn | None = None
) -> dict[str, Any]:
    """What a client's backend gives the page that shows ``/feed.js``: it reads and
    marks this user's feed, and is refused everywhere else."""
    if not who.is_admin:
        raise HeraldError.forbidden("a feed token is made with an admin key")
    if await ctx.directory.unknown([user_id]):
        raise HeraldError.not_found(f"user {user_id}")
    ttl = (body or schemas.FeedTokenIn()).ttl_seconds
    token = auth.feed_token(ctx.signing, str(user_id), ttl)
    return ok(schemas.FeedTokenOut(token=token, expires_in=ttl).model_dump(), "feed token")


@router.post(
    "/{user_id}/feed/{item_id}/{mark}",
    summary="Mark an item read, unread, archived or unarchived",
    response_model=Envelope[schemas.FeedItemOut],
)
async def mark_item(
    user_id: uuid.UUID,
    item_id: uuid.UUID,
    mark: Mark,
    _: Reader,
    ctx: Ctx,
) -> dict[str, Any]:
    item = await ctx.feeds.mark(user_id, item_id, mark)
    await ctx.hub.publish(str(user_id))
    return ok(item_out(item), _DONE[mark])


_DONE = {
    "read": "item marked read",
    "unread": "item marked unread",
    "archive": "item archived",
    "unarchive": "item unarchived",
}
