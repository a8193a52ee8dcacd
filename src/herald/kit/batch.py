"""Group commit: many concurrent callers, one transaction.

Every caller hands its item to ``submit`` and waits. One task takes everything that
arrived while the previous flush ran (up to ``max_size``, after an optional ``linger``
for more) and flushes it at once; each caller then gets its own item's result, or the
flush's exception. Under load a transaction carries hundreds of items instead of one;
when idle an item waits for no one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

from herald.kit.aio import Background, within

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Stopping(RuntimeError):
    """The batcher stopped before the item was flushed."""


class Batcher(Generic[T, R]):
    def __init__(
        self,
        name: str,
        flush: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_size: int = 200,
        linger: float = 0.0,
        pause_after_error: float = 0.0,
    ) -> None:
        self._name = name
        self._flush = flush
        self._max = max_size
        self._linger = linger
        self._pause = pause_after_error
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._loop = Background()

    async def start(self) -> None:
        self._loop.start(self._run())

    async def stop(self) -> None:
        await self._loop.stop()
        waiting = []
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        self._settle(waiting, Stopping(f"{self._name} stopped"))

    async def submit(self, item: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, done))
        return await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            try:
                await self._collect(batch)
                results = await self._flush([item for item, _ in batch])
            except asyncio.CancelledError:
                self._settle(batch, Stopping(f"{self._name} stopped"))
                raise
            except Exception as exc:
                log.warning("batch.flush_failed", batch=self._name, size=len(batch), error=str(exc))
                self._settle(batch, exc)
                if self._pause:
                    await asyncio.sleep(self._pause)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                if not done.done():
                    done.set_result(result)

    async def _collect(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        while len(batch) < self._max and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if not self._linger:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger
        while len(batch) < self._max:
            timeout = deadline - loop.time()
            if timeout <= 0:
                return
            item = await within(timeout, self._queue.get())
            if item is None:
                return
            batch.append(item)

    @staticmethod
    def _settle(batch: list[tuple[T, asyncio.Future[R]]], error: BaseException) -> None:
        for _, done in batch:
            if not done.done():
                done.set_exception(error)
