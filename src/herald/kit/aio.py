"""Waiting with a time limit, without losing a cancellation.

``asyncio.wait_for`` on Python 3.11 can swallow a cancel that arrives just as its
timeout fires (https://github.com/python/cpython/issues/86296), leaving a task that
was told to stop running for ever; ``asyncio.timeout`` does not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

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
