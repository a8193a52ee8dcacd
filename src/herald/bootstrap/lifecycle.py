"""Lifespan helpers: run something before an app starts or after it stops, and tie a
process's connections (and in-process services) to one app's lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from herald.bootstrap.infra import Infra


def before_start(app: FastAPI, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` when ``app`` starts, before its own lifespan."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        await action()
        async with inner(a):
            yield

    app.router.lifespan_context = lifespan


def after_stop(app: FastAPI, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` when ``app`` has stopped, after its own lifespan."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        try:
            async with inner(a):
                yield
        finally:
            await action()

    app.router.lifespan_context = lifespan


def own(app: FastAPI, infra: Infra, *, children: Sequence[FastAPI] = ()) -> FastAPI:
    """Make ``app``'s lifespan open ``infra`` and start ``children`` (in-process services)
    before its own start-up, and close them all, in reverse, after its shutdown."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await infra.start()
            stack.push_async_callback(infra.close)
            for child in children:
                await stack.enter_async_context(child.router.lifespan_context(child))
            await stack.enter_async_context(inner(a))
            settle_heap()
            yield

    app.router.lifespan_context = lifespan
    return app


def settle_heap() -> None:
    """Set what start-up built aside from the garbage collector for good.

    Every full collection walks every tracked object, and start-up leaves well over a
    hundred thousand (modules, models, routes) that live as long as the process: on a
    busy two-core machine each walk stalled the event loop for 60-130 ms every few
    seconds, which was the gateway's p99. Frozen, they are never walked again.
    """
    gc.collect()
    gc.freeze()
