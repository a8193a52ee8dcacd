"""The group-commit batcher: each caller gets its own item's result, and a failed
flush fails exactly the callers whose items it carried."""

from __future__ import annotations

import asyncio

import pytest

from herald.kit.batch import Batcher, Stopping


class Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.release = asyncio.Event()
        self.release.set()

    async def flush(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await self.release.wait()
        if self.fail_on in items:
            raise ValueError(f"refused {self.fail_on}")
        return [i * 10 for i in items]


async def test_items_arriving_during_a_flush_share_the_next_one() -> None:
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher("test", recorder.flush, max_size=100)
    await batcher.start()
    try:
        recorder.release.clear()
        first = asyncio.create_task(batcher.submit(1))
        await asyncio.sleep(0.01)  # the first flush is now running, held open
        rest = [asyncio.create_task(batcher.submit(i)) for i in range(2, 12)]
        await asyncio.sleep(0.01)
        recorder.release.set()
        assert await first == 10
        assert [await r for r in rest] == [i * 10 for i in range(2, 12)]
        assert recorder.batches == [[1], list(range(2, 12))]
    finally:
        await batcher.stop()


async def test_a_batch_never_exceeds_its_size() -> None:
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher("test", recorder.flush, max_size=4)
    await batcher.start()
    try:
        results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        assert results == [i * 10 for i in range(10)]
        assert max(len(b) for b in recorder.batches) <= 4
        assert sorted(i for b in recorder.batches for i in b) == list(range(10))
    finally:
        await batcher.stop()


async def test_a_failed_flush_fails_its_own_callers_only() -> None:
    recorder = Recorder(fail_on=3)
    batcher: Batcher[int, int] = Batcher("test", recorder.flush, max_size=2)
    await batcher.start()
    try:
        results = await asyncio.gather(
            *(batcher.submit(i) for i in range(6)), return_exceptions=True
        )
        failed = {i for i, r in enumerate(results) if isinstance(r, ValueError)}
        batch_of_3 = next(b for b in recorder.batches if 3 in b)
        assert failed == set(batch_of_3)
        assert all(results[i] == i * 10 for i in range(6) if i not in failed)
        assert await batcher.submit(7) == 70  # it goes on after a failure
    finally:
        await batcher.stop()


async def test_stopping_fails_what_was_not_flushed() -> None:
    recorder = Recorder()
    batcher: Batcher[int, int] = Batcher("test", recorder.flush)
    await batcher.start()
    recorder.release.clear()
    held = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0.01)
    await batcher.stop()
    for task in (held, waiting):
        with pytest.raises(Stopping):
            await task
