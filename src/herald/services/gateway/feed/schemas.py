"""The feed API's bodies."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from herald.kit.envelope import Input, PaginationMeta


class FeedItemOut(BaseModel):
    id: uuid.UUID = Field(description="the notification's id")
    seq: int = Field(description="the item's place in the feed, and its stream event id")
    template_code: str
    title: str
    body: str
    link: str | None = None
    avatar: str | None = None
    status: str = Field(description="unread, read or archived")
    created_at: str
    read_at: str | None = None
    archived_at: str | None = None


class FeedMeta(PaginationMeta):
    unread: int = Field(description="the user's unread items, in the whole feed")
    last_event_id: int = Field(
        description="the newest item's seq: a stream opened with it as Last-Event-ID "
        "sends only what is newer than this page"
    )


class FeedPage(BaseModel):
    success: bool = True
    data: list[FeedItemOut]
    error: str | None = None
    message: str = "ok"
    meta: FeedMeta


class FeedCount(BaseModel):
    unread: int
    changed: int | None = Field(default=None, description="how many items this call changed")


class FeedTokenIn(Input):
    ttl_seconds: int = Field(default=3600, ge=60, le=86_400)


class FeedTokenOut(BaseModel):
    token: str = Field(description="for this user's feed routes only; hand it to their browser")
    expires_in: int
