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

# The gateway asks about up to 10,000 users at once (a topic's subscribers): 10,000
# ids as JSON are about 400 KB.
_MANY_USERS = 1024 * 1024


def build(
    *, engine: AsyncEngine, database: Check, ctx: UsersContext, max_body_bytes: int
) -> FastAPI:
    app = create_app(
        service=SERVICE,
        title="Herald users",
        max_body_bytes=max_body_bytes,
        larger_bodies={r"/internal/users/(unknown|contacts)": max(max_body_bytes, _MANY_USERS)},
        checks={"database": database, "cache": ctx.cache.ready},
    )
    app.state.sessions = sessionmaker(engine)
    app.state.keys = ctx.keys
    app.state.ctx = ctx
    app.include_router(router)
    app.include_router(internal)
    return app
