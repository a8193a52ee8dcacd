"""Users' feeds in the gateway's database: the in-app worker adds items, the feed API
reads and marks them, the stream follows them by ``seq``."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.domain.clock import utcnow
from herald.domain.errors import HeraldError
from herald.kit.db import insert_new, unit_of_work
from herald.services.gateway.models import FeedItem

# The channel every feed change is signalled on; the message is the user's id.
CHANNEL = "feed"
FeedStatus = Literal["unread", "read", "archived"]
Mark = Literal["read", "unread", "archive", "unarchive"]


@dataclass(frozen=True, slots=True)
class NewItem:
    notification_id: uuid.UUID
    user_id: uuid.UUID
    template_code: str
    title: str
    body: str
    link: str | None
    avatar: str | None


def _status(item: FeedItem) -> str:
    if item.archived_at is not None:
        return "archived"
    return "read" if item.read_at is not None else "unread"


def _shown(user_id: uuid.UUID, status: FeedStatus | None) -> ColumnElement[bool]:
    """Which of a user's items a listing shows: one status, or all but the archived."""
    mine = FeedItem.user_id == user_id
    if status is None:
        return mine & (FeedItem.status != "archived")
    return mine & (FeedItem.status == status)


def item_out(item: FeedItem) -> dict[str, Any]:
    return {
        "id": str(item.notification_id),
        "seq": item.seq,
        "template_code": item.template_code,
        "title": item.title,
        "body": item.body,
        "link": item.link,
        "avatar": item.avatar,
        "status": item.status,
        "created_at": item.created_at.isoformat(),
        "read_at": item.read_at.isoformat() if item.read_at else None,
        "archived_at": item.archived_at.isoformat() if item.archived_at else None,
    }


class FeedStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, new: NewItem) -> int:
        """Store an item (once per notification: a redelivered message finds its item
        there); its ``seq``."""
        async with unit_of_work(self._sessions) as session:
            row = {**asdict(new), "status": "unread", "created_at": utcnow()}
            stmt = insert_new(session, FeedItem, "notification_id").values(row)
            added = (await session.execute(stmt.returning(FeedItem.seq))).scalar_one_or_none()
            if added is not None:
                return int(added)
            found = select(FeedItem.seq).where(FeedItem.notification_id == new.notification_id)
            return int((await session.execute(found)).scalar_one())

    @staticmethod
    async def _unread(session: AsyncSession, user_id: uuid.UUID) -> int:
        count = select(func.count()).where(_shown(user_id, "unread"))
        return int((await session.execute(count)).scalar_one())

    @staticmethod
    async def _last(session: AsyncSession, user_id: uuid.UUID) -> int:
        """The newest ``seq`` of a user's feed, 0 for an empty one."""
        last = select(func.max(FeedItem.seq)).where(FeedItem.user_id == user_id)
        return int((await session.execute(last)).scalar_one() or 0)

    async def page(
        self, user_id: uuid.UUID, status: FeedStatus | None, *, offset: int, limit: int
    ) -> tuple[list[FeedItem], int, int, int]:
        """A page of a user's items, newest first; the total shown, the unread count,
        and the last ``seq`` of the whole feed (where a stream opened now starts)."""
        async with self._sessions() as session:
            where = _shown(user_id, status)
            rows = await session.scalars(
                select(FeedItem)
                .where(where)
                .order_by(FeedItem.seq.desc())
                .offset(offset)
                .limit(limit)
            )
            total = (await session.execute(select(func.count()).where(where))).scalar_one()
            return (
                list(rows),
                int(total),
                await self._unread(session, user_id),
                await self._last(session, user_id),
            )

    async def since(self, user_id: uuid.UUID, after: int, limit: int) -> tuple[list[FeedItem], int]:
        """A user's items after ``seq``, oldest first, and their unread count."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(FeedItem)
                .where(FeedItem.user_id == user_id, FeedItem.seq > after)
                .order_by(FeedItem.seq)
                .limit(limit)
            )
            return list(rows), await self._unread(session, user_id)

    async def last_seq(self, user_id: uuid.UUID) -> int:
        async with self._sessions() as session:
            return await self._last(session, user_id)

    async def mark(self, user_id: uuid.UUID, notification_id: uuid.UUID, mark: Mark) -> FeedItem:
        async with unit_of_work(self._sessions) as session:
            item = (
                await session.scalars(
                    select(FeedItem)
                    .where(FeedItem.user_id == user_id, FeedItem.notification_id == notification_id)
                    .with_for_update()
                )
            ).one_or_none()
            if item is None:
                raise HeraldError.not_found(f"feed item {notification_id}")
            now: datetime = utcnow()
            if mark == "read":
                item.read_at = item.read_at or now
            elif mark == "unread":
                item.read_at = None
            elif mark == "archive":
                item.archived_at = item.archived_at or now
            else:
                item.archived_at = None
            item.status = _status(item)
            return item

    async def read_all(self, user_id: uuid.UUID) -> int:
        """Mark every unread item read; how many were."""
        async with unit_of_work(self._sessions) as session:
            done = await session.execute(
                update(FeedItem)
                .where(_shown(user_id, "unread"))
                .values(status="read", read_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return int(getattr(done, "rowcount", 0) or 0)

    async def unread(self, user_id: uuid.UUID) -> int:
        async with self._sessions() as session:
            return await self._unread(session, user_id)
