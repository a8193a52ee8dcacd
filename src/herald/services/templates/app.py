"""The templates service's app (``herald serve templates``, or in-process under ``herald dev``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.app import create_app
from herald.kit.auth import Keys
from herald.kit.db import sessionmaker
from herald.kit.health import Check
from herald.services.templates.handlers import TemplatesContext
from herald.services.templates.routes import internal, router
from herald.services.templates.seeds import seed_once

SERVICE = "templates"
log = structlog.get_logger(__name__)


def build(
    *,
    engine: AsyncEngine,
    database: Check,
    ctx: TemplatesContext,
    keys: Keys,
    max_body_bytes: int,
) -> FastAPI:
    sessions = sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        added = await seed_once(sessions, ctx)
        if added:
            log.info("templates.seeded", count=added)
        yield

    app = create_app(
        service=SERVICE,
        title="Herald templates",
        max_body_bytes=max_body_bytes,
        checks={"database": database, "cache": ctx.cache.ready},
        lifespan=lifespan,
    )
    app.state.sessions = sessions
    app.state.keys = keys
    app.state.ctx = ctx
    app.include_router(router)
    app.include_router(internal)
    return app
