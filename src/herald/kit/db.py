"""Database helpers shared by every service: declarative bases and the unit of work."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Insert, MetaData, TypeDecorator, Uuid
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names make migrations portable between SQLite and PostgreSQL
# (https://alembic.sqlalchemy.org/en/latest/naming.html).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on both backends (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class HeraldBase(DeclarativeBase):
    """Root of every service's models. Each service subclasses it with ``__abstract__``
    and a MetaData of its own, so no service ever sees another's tables."""

    __abstract__ = True
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), uuid.UUID: Uuid()}


def insert_new(bind: AsyncSession | AsyncConnection, target: Any, *unique: Any) -> Insert:
    """``INSERT … ON CONFLICT (unique) DO NOTHING`` on PostgreSQL and on SQLite: rows
    already there are left alone, and RETURNING names only the rows inserted."""
    dialect = bind.dialect if isinstance(bind, AsyncConnection) else bind.get_bind().dialect
    if dialect.name == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing(index_elements=list(unique))
    return sqlite.insert(target).on_conflict_do_nothing(index_elements=list(unique))


def service_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    async with factory() as session:
        async with session.begin():
            yield session
        await run_after_commit(session)


AfterCommit = Callable[[], Awaitable[None]]


def after_commit(session: AsyncSession, action: AfterCommit) -> None:
    """Run ``action`` once the transaction has committed; drop it on rollback.

    Cache invalidations and wake-ups go here: done earlier, a concurrent reader could
    cache the old row again before the new one is visible.
    """
    session.info.setdefault("after_commit", []).append(action)


async def run_after_commit(session: AsyncSession) -> None:
    for action in session.info.pop("after_commit", []):
        await action()
