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

    async def stop(self, grace: float = 10.0) -> None:
        """Cancel the task and wait for it, at most ``grace`` seconds: a task that does
        not end by then is logged with where it waits and left, so that one stuck
        component cannot hold a whole process's shutdown. The cancel is repeated every
        half second: a library that swallowed one (a read whose own time limit fired
        at the same moment) meets the next."""
        task, self._task = self._task, None
        if task is None:
            return
        deadline = asyncio.get_running_loop().time() + grace
        done: set[asyncio.Task[None]] = set()
        while not done:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=min(0.5, left))
        if not done:
            where = "".join(
                f"{f.f_code.co_filename}:{f.f_lineno} {f.f_code.co_name}; "
                for f in task.get_stack()
            )
            log.error("background.did_not_stop", task=task.get_name(), waiting_in=where)
            return
        with contextlib.suppress(asyncio.CancelledError):
            task.result()


async def keep_stepping(
    step: Callable[[], Awaitable[bool]],
    idle: Callable[[], Awaitable[object]],
    *,
    failed: str,
    longest_pause: float = 5.0,
) -> None:
    """A background loop's life: ``step`` again at once while it says more is waiting,
    after ``idle`` when not. A step or an idle wait that raises (the database or a
    service is away) left the work where it was: it is logged as ``failed`` and tried
    again after a pause that doubles up to ``longest_pause``."""
    failures = 0
    while True:
        try:
            if not await step():
                await idle()
            failures = 0
        except Exception:
            failures += 1
            log.exception(failed, failures=failures)
            await back_off(failures, longest_pause)


async def until_done(
    step: Callable[[], Awaitable[object]], *, failed: str, longest_pause: float = 5.0
) -> None:
    """``step`` again until it does not raise, each failure logged as ``failed`` and
    followed by a pause that doubles up to ``longest_pause``; only a cancel ends it
    otherwise."""
    failures = 0
    while True:
        try:
            await step()
            return
        except Exception as exc:
            failures += 1
            log.warning(failed, failures=failures, error=str(exc) or type(exc).__name__)
            await back_off(failures, longest_pause)


async def back_off(failures: int, longest: float) -> None:
    """The pause after ``failures`` failures in a row: 0.4 s, doubling up to
    ``longest``."""
    await asyncio.sleep(min(0.2 * 2**failures, longest))
