"""What ``herald keys`` manages straight in the gateway's database, opened here so that
the command line picks no adapter and reaches into no service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from herald.config import Settings

if TYPE_CHECKING:
    from herald.services.gateway.keys import KeyAdmin


@asynccontextmanager
async def key_admin(settings: Settings) -> AsyncIterator[KeyAdmin]:
    """API keys, in one transaction committed when the block ends."""
    from herald.adapters.db.engine import create_engine
    from herald.kit.db import sessionmaker, unit_of_work
    from herald.services.gateway.keys import KeyAdmin

    engine = create_engine(settings.database_url_for("gateway"))
    try:
        async with unit_of_work(sessionmaker(engine)) as session:
            yield KeyAdmin(session)
    finally:
        await engine.dispose()
