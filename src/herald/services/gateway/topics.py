"""Topics API (SPEC.md §6.1): topics and who follows them. A send to a topic is an
ordinary send with ``topic`` set; the fan-out (fanout.py) makes its children."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from sqlalchemy.exc import IntegrityError

from herald.domain.errors import HeraldError
from herald.kit.deps import SessionDep
from herald.kit.envelope import ERROR_RESPONSES, Envelope, Page, PaginationMeta, ok
from herald.services.gateway import schemas
from herald.services.gateway.models import Topic
from herald.services.gateway.repositories import TopicRepository
from herald.services.gateway.security import Caller, Ctx

router = APIRouter(prefix="/api/v1/topics", tags=["topics"], responses=ERROR_RESPONSES)

Key = Annotated[str, Path(pattern=schemas.KEY_PATTERN)]
# The subscribers path takes up to 10,000 user ids: a larger body than the rest.
SUBSCRIBERS_PATH = r"/api/v1/topics/[^/]+/subscribers"


def _out(topic: Topic, subscribers: int) -> dict[str, Any]:
    return schemas.TopicOut(
        key=topic.key, name=topic.name, subscribers=subscribers, created_at=topic.created_at
    ).model_dump(mode="json")


async def _topic(repo: TopicRepository, key: str) -> Topic:
    topic = await repo.get(key)
    if topic is None:
        raise HeraldError.not_found(f"topic '{key}'")
    return topic


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    summary="Create a topic",
    response_model=Envelope[schemas.TopicOut],
)
async def create_topic(body: schemas.TopicIn, session: SessionDep, who: Caller) -> dict[str, Any]:
    who.require("send")
    repo = TopicRepository(session)
    topic = Topic(key=body.key, name=body.name)
    repo.add(topic)
    try:
        await session.flush()
    except IntegrityError:
        raise HeraldError.conflict(f"topic '{body.key}' already exists")
    return ok(_out(topic, 0), "topic created")


@router.get("/", summary="List topics", response_model=Envelope[list[schemas.TopicOut]])
async def list_topics(
    session: SessionDep, who: Caller, page: Annotated[Page, Query()]
) -> dict[str, Any]:
    who.require("send")
    rows, total = await TopicRepository(session).page(offset=page.offset, limit=page.limit)
    return ok(
        [_out(t, n) for t, n in rows],
        "topics",
        PaginationMeta.of(total=total, page=page.page, limit=page.limit),
    )


@router.get("/{key}", summary="Read a topic", response_model=Envelope[schemas.TopicOut])
async def get_topic(key: Key, session: SessionDep, who: Caller) -> dict[str, Any]:
    who.require("send")
    repo = TopicRepository(session)
    topic = await _topic(repo, key)
    return ok(_out(topic, await repo.audience(key)))


@router.delete(
    "/{key}",
    summary="Delete a topic and its subscriptions (a fan-out under way stops there)",
    response_model=Envelope[None],
)
async def delete_topic(key: Key, session: SessionDep, who: Caller) -> dict[str, Any]:
    who.require("send")
    repo = TopicRepository(session)
    await repo.delete(await _topic(repo, key))
    return ok(None, "topic deleted")


@router.post(
    "/{key}/subscribers",
    summary="Subscribe up to 10,000 users (those already subscribed stay as they are)",
    response_model=Envelope[schemas.SubscribersChanged],
)
async def subscribe(
    key: Key, body: schemas.SubscribersIn, session: SessionDep, who: Caller, ctx: Ctx
) -> dict[str, Any]:
    who.require("send")
    # Asked before this request's transaction begins: in herald dev the users service
    # shares its SQLite file, whose write lock that transaction would hold.
    user_ids = list(dict.fromkeys(body.user_ids))
    unknown = await ctx.directory.unknown(user_ids)
    repo = TopicRepository(session)
    await _topic(repo, key)
    if unknown:
        more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise HeraldError.not_found("users " + ", ".join(unknown[:5]) + more)
    added = await repo.subscribe(key, user_ids)
    data = schemas.SubscribersChanged(changed=added, subscribers=await repo.audience(key))
    return ok(data.model_dump(), f"{added} subscribed")


@router.delete(
    "/{key}/subscribers",
    summary="Unsubscribe up to 10,000 users",
    response_model=Envelope[schemas.SubscribersChanged],
)
async def unsubscribe(
    key: Key, body: schemas.SubscribersIn, session: SessionDep, who: Caller
) -> dict[str, Any]:
    who.require("send")
    repo = TopicRepository(session)
    await _topic(repo, key)
    removed = await repo.unsubscribe(key, body.user_ids)
    data = schemas.SubscribersChanged(changed=removed, subscribers=await repo.audience(key))
    return ok(data.model_dump(), f"{removed} unsubscribed")


@router.get(
    "/{key}/subscribers",
    summary="List a topic's subscribers, by user id",
    response_model=Envelope[list[schemas.SubscriberOut]],
)
async def list_subscribers(
    key: Key, session: SessionDep, who: Caller, page: Annotated[Page, Query()]
) -> dict[str, Any]:
    who.require("send")
    repo = TopicRepository(session)
    await _topic(repo, key)
    rows = await repo.subscribers(key, offset=page.offset, limit=page.limit)
    return ok(
        [
            schemas.SubscriberOut(user_id=r.user_id, subscribed_at=r.created_at).model_dump(
                mode="json"
            )
            for r in rows
        ],
        "subscribers",
        PaginationMeta.of(total=await repo.audience(key), page=page.page, limit=page.limit),
    )
