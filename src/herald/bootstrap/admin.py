"""What the command line manages straight in a service's database (API keys, console
admins), opened here so that the command line picks no adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from herald.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from herald.services.gateway.keys import KeyAdmin


@asynccontextmanager
async def service_session(settings: Settings, service: str) -> AsyncIterator[AsyncSession]:
    """One transaction in ``service``'s database, committed when the block ends."""
    from herald.adapters.db.engine import create_engine
    from herald.kit.db import sessionmaker, unit_of_work

    engine = create_engine(
        settings.database_url_for(service),
        transaction_pooled=settings.database_transaction_pooling,
    )
    try:
        async with unit_of_work(sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


@asynccontextmanager
async def key_admin(settings: Settings) -> AsyncIterator[KeyAdmin]:
    """API keys, in one transaction committed when the block ends."""
    from herald.services.gateway.keys import KeyAdmin

    async with service_session(settings, "gateway") as session:
        yield KeyAdmin(session)
