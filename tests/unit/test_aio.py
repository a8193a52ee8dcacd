"""The background loops' shape: a failure in a step or in the idle wait is retried,
and stopping never waits for ever on a task that will not end."""

from __future__ import annotations

import asyncio
import contextlib

from herald.kit.aio import Background, keep_stepping


async def test_a_failing_idle_wait_is_retried_like_a_failing_step() -> None:
    steps: list[int] = []
    idles = 0

    async def step() -> bool:
        steps.append(len(steps))
        if len(steps) == 2:
            raise OSError("the database went away")
        return False

    async def idle() -> None:
        nonlocal idles
        idles += 1
        if idles == 1:
            raise OSError("so did the read of the next due time")
        await asyncio.sleep(0)

    loop = Background()
    loop.start(keep_stepping(step, idle, failed="test.failed", longest_pause=0.01))
    for _ in range(200):
        if len(steps) >= 5:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    assert len(steps) >= 5  # both failures were survived


async def test_a_task_that_ignores_its_cancel_does_not_hold_the_stop() -> None:
    async def stubborn() -> None:
        # What no component should do: the first cancel is swallowed.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        await asyncio.sleep(10)  # (the loop's own cancel at the test's end ends it)

    loop = Background()
    loop.start(stubborn())
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    await loop.stop(grace=0.2)
    assert asyncio.get_running_loop().time() - started < 2
