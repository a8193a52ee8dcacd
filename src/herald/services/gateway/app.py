"""The gateway's app (``herald serve gateway``, or the front of ``herald dev``)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from herald.kit.app import create_app, on_drain
from herald.kit.health import Check
from herald.services.gateway import console, openapi, proxy, sms_receipts, topics, unsubscribe
from herald.services.gateway.context import GatewayContext
from herald.services.gateway.feed import routes as feed
from herald.services.gateway.feed import web as feed_web
from herald.services.gateway.gauges import Gauges
from herald.services.gateway.routes import router
from herald.services.gateway.webhooks import routes as webhooks

SERVICE = "gateway"


# The routes whose bodies may be larger than the rest: a batch of notifications, and
# a topic's subscribers added or removed 10,000 at a time.
BATCH_PATH = "/api/v1/notifications/batch"


def build(
    *,
    database: Check,
    ctx: GatewayContext,
    max_body_bytes: int,
    max_in_flight: int = 512,
    max_batch_body_bytes: int | None = None,
) -> FastAPI:
    gauges = Gauges(ctx.broker, ctx.relay)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ctx.relay.start()
        await ctx.intake.start()
        await ctx.statuses.start()
        await ctx.fanout.start()
        await ctx.scheduler.start()
        await gauges.start()
        await ctx.hub.start()
        if ctx.retention is not None:
            await ctx.retention.start()
        try:
            yield
        finally:
            if ctx.retention is not None:
                await ctx.retention.stop()
            await ctx.hub.stop()
            await gauges.stop()
            await ctx.scheduler.stop()
            await ctx.fanout.stop()
            await ctx.statuses.stop()
            await ctx.intake.stop()
            await ctx.relay.stop()

    app = create_app(
        service=SERVICE,
        title="Herald",
        max_body_bytes=max_body_bytes,
        max_in_flight=max_in_flight,
        larger_bodies={
            re.escape(BATCH_PATH): max_batch_body_bytes or max_body_bytes,
            topics.SUBSCRIBERS_PATH: max_batch_body_bytes or max_body_bytes,
        },
        long_lived=[feed.STREAM_PATH],
        lifespan=lifespan,
        checks={
            "database": database,
            "broker": ctx.broker.ready,
            "cache": ctx.directory.cache.ready,
        },
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        description="Notify your users by email or push, with retries, dead letters and "
        "status tracking.",
    )
    app.state.sessions = ctx.sessions
    app.state.keys = ctx.signing
    app.state.ctx = ctx
    app.include_router(router)
    app.include_router(topics.router)
    app.include_router(unsubscribe.router)
    app.include_router(sms_receipts.router)
    app.include_router(webhooks.router)
    app.include_router(feed.router)  # before the users service's routes are proxied
    feed_web.mount(app, ctx.feed_origins)
    on_drain(app, ctx.hub.drain)
    app.include_router(proxy.router(ctx.directory.users, ctx.directory.templates))
    app.include_router(openapi.router(app, [ctx.directory.users, ctx.directory.templates]))
    openapi.mount_assets(app)
    console.mount(app, ctx, session_seconds=ctx.console_session_seconds)
    return app
