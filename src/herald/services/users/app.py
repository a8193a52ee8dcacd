"""The users service's app (``herald serve users``, or in-process under ``herald dev``)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.kit.app import create_app
from herald.kit.db import sessionmaker
from herald.kit.health import Check
from herald.services.users.handlers import UsersContext
from herald.services.users.routes import internal, router

SERVICE = "users"


def build(
    *, engine: AsyncEngine, database: Check, ctx: UsersContext, max_body_bytes: int
) -> FastAPI:
    app = create_app(
        service=SERVICE,
        title="Herald users",
        max_body_bytes=max_body_bytes,
        checks={"database": database, "cache": ctx.cache.ready},
    )
    app.state.sessions = sessionmaker(engine)
    app.state.keys = ctx.keys
    app.state.ctx = ctx
    app.include_router(router)
    app.include_router(internal)
    return app
