"""Waiting with a time limit, without losing a cancellation.

``asyncio.wait_for`` on Python 3.11 can swallow a cancel that arrives just as its
timeout fires (https://github.com/python/cpython/issues/86296), leaving a task that
was told to stop running for ever; ``asyncio.timeout`` does not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


async def within(seconds: float, awaitable: Awaitable[T]) -> T | None:
    """``await awaitable``, or None once ``seconds`` have passed."""
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        return None


class Background:
    """The one long-running task of a component: started with it, cancelled (and
    awaited) when it stops."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.create_task(work)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def keep_stepping(
    step: Callable[[], Awaitable[bool]],
    idle: Callable[[], Awaitable[object]],
    *,
    failed: str,
    longest_pause: float = 5.0,
) -> None:
    """A background loop's life: ``step`` again at once while it says more is waiting,
    after ``idle`` when not. A step that raises (the database or a service is away)
    left its work where it was: it is logged as ``failed`` and tried again after a
    pause that doubles up to ``longest_pause``."""
    failures = 0
    while True:
        try:
            more = await step()
            failures = 0
        except Exception:
            failures += 1
            log.exception(failed, failures=failures)
            await asyncio.sleep(min(0.2 * 2**failures, longest_pause))
            continue
        if not more:
            await idle()
