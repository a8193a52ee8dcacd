"""The in-process queue ``herald dev`` runs on.

Messages live in a SQLite file, so work accepted before a restart is delivered after
it. Delays, dead letters, priorities and prefetch behave as they do on RabbitMQ:
a retried message waits ``delay`` seconds without holding a consumer slot, and a dead
letter is moved to ``failed.queue`` with its error and attempt count in its headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import structlog

from herald.domain.messages import FAILED_QUEUE, ROUTING_KEYS
from herald.kit.aio import within
from herald.ports import (
    DELIVERY_LIMIT,
    BrokerUnavailable,
    Delivery,
    Handler,
    Outgoing,
    attempts_of,
    dead_letter_headers,
    retry_headers,
)

log = structlog.get_logger(__name__)

# How often a handler failed on a message without settling it.
_FAILURES_HEADER = "x-herald-handler-failures"
# A failed handler's message waits this long before it is handed out again, so that a
# fault that repeats cannot spin the consumer.
_FAILURE_PAUSE = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    headers TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 5,
    available_at REAL NOT NULL,
    leased INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ix_queue_messages_ready
    ON queue_messages (queue, leased, available_at);
"""

_QUEUE_OF = {key: queue for queue, key in ROUTING_KEYS.items()}


class EmbeddedDelivery:
    def __init__(
        self, broker: EmbeddedBroker, row_id: int, queue: str, body: bytes, headers: dict[str, Any]
    ) -> None:
        self._broker = broker
        self._id = row_id
        self.queue = queue
        self.body = body
        self.headers: Mapping[str, Any] = headers
        self.routing_key = ROUTING_KEYS.get(queue, queue)

    @property
    def attempts(self) -> int:
        return attempts_of(self.headers)

    async def ack(self) -> None:
        await self._broker._execute("DELETE FROM queue_messages WHERE id = ?", (self._id,))

    async def retry(self, delay: float, *, attempts: int, error: str | None) -> None:
        headers = retry_headers(self.headers, attempts=attempts, error=error)
        await self._broker._execute(
            "UPDATE queue_messages SET headers = ?, available_at = ?, leased = 0 WHERE id = ?",
            (json.dumps(headers), time.time() + delay, self._id),
        )
        self._broker._wake_later(self.queue, delay)

    async def dead_letter(self, *, attempts: int, error: str) -> None:
        headers = dead_letter_headers(
            self.headers, attempts=attempts, error=error, origin=self.routing_key
        )
        await self._broker._execute(
            "UPDATE queue_messages SET queue = ?, headers = ?, available_at = ?, leased = 0 "
            "WHERE id = ?",
            (FAILED_QUEUE, json.dumps(headers), time.time(), self._id),
        )
        self._broker._wake(FAILED_QUEUE)

    async def handler_failed(self, error: str) -> None:
        """The consumer raised without settling the message: count it, hand it out
        again after a pause, and dead-letter it at the limit."""
        failures = int(self.headers.get(_FAILURES_HEADER, 0)) + 1
        if failures >= DELIVERY_LIMIT:
            await self.dead_letter(attempts=self.attempts, error=f"handler failed: {error}")
            return
        self.headers = {**self.headers, _FAILURES_HEADER: failures}
        await self.retry(_FAILURE_PAUSE, attempts=self.attempts, error=None)

    async def release(self) -> None:
        """Give the message back to its queue untouched (a consumer that could not finish)."""
        await self._broker._execute(
            "UPDATE queue_messages SET leased = 0 WHERE id = ?", (self._id,)
        )
        self._broker._wake(self.queue)


class EmbeddedBroker:
    """Broker port on a SQLite file (``embedded://`` in settings; ``memory://`` too)."""

    def __init__(self, path: Path, *, poll_seconds: float = 1.0) -> None:
        self._path = path
        self._poll = poll_seconds
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._events: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self._path)
        await self._db.executescript(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + _SCHEMA
        )
        # Whatever was leased when the process stopped was never settled: deliver it again.
        await self._db.execute("UPDATE queue_messages SET leased = 0 WHERE leased = 1")
        await self._db.commit()

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise BrokerUnavailable("the embedded broker is not started")
        return self._db

    async def _execute(self, sql: str, params: Sequence[Any]) -> None:
        db = self._conn
        async with self._lock:
            await db.execute(sql, params)
            await db.commit()

    def _event(self, queue: str) -> asyncio.Event:
        return self._events.setdefault(queue, asyncio.Event())

    def _wake(self, queue: str) -> None:
        self._event(queue).set()

    def _wake_later(self, queue: str, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self._wake, queue)

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        db = self._conn
        now = time.time()
        rows = []
        for m in messages:
            queue = _QUEUE_OF.get(m.routing_key, m.routing_key)
            rows.append((queue, m.body, json.dumps(m.headers), m.priority, now))
        async with self._lock:
            await db.executemany(
                "INSERT INTO queue_messages (queue, body, headers, priority, available_at) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            await db.commit()
        for queue in {r[0] for r in rows}:
            self._wake(queue)

    async def _lease(self, queue: str, limit: int) -> list[EmbeddedDelivery]:
        db = self._conn
        async with self._lock:
            cursor = await db.execute(
                "SELECT id, body, headers FROM queue_messages "
                "WHERE queue = ? AND leased = 0 AND available_at <= ? "
                "ORDER BY priority DESC, id LIMIT ?",
                (queue, time.time(), limit),
            )
            rows = list(await cursor.fetchall())
            if rows:
                marks = ",".join("?" * len(rows))
                await db.execute(
                    f"UPDATE queue_messages SET leased = 1 WHERE id IN ({marks})",
                    [r[0] for r in rows],
                )
                await db.commit()
        return [EmbeddedDelivery(self, r[0], queue, r[1], json.loads(r[2])) for r in rows]

    async def consume(self, queue: str, handler: Handler, *, prefetch: int) -> None:
        task = asyncio.create_task(self._consume(queue, handler, prefetch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume(self, queue: str, handler: Handler, prefetch: int) -> None:
        slots = asyncio.Semaphore(prefetch)
        event = self._event(queue)
        running: set[asyncio.Task[None]] = set()
        # Counted where a slot is freed, not when its task is discarded (a callback
        # later): a count that lags would find no room, and wait out a whole poll.
        busy = 0

        async def run(delivery: EmbeddedDelivery) -> None:
            nonlocal busy
            try:
                await handler(delivery)
            except Exception as exc:
                log.exception("broker.embedded.handler_failed", queue=queue)
                await delivery.handler_failed(f"{type(exc).__name__}: {exc}"[:500])
            finally:
                busy -= 1
                slots.release()

        while not self._closing:
            event.clear()
            free = prefetch - busy
            batch = await self._lease(queue, free) if free > 0 else []
            for delivery in batch:
                await slots.acquire()
                busy += 1
                task = asyncio.create_task(run(delivery))
                running.add(task)
                task.add_done_callback(running.discard)
            if free <= 0 or len(batch) == free:
                await slots.acquire()  # wait for a free slot, then look again
                slots.release()
                continue
            await within(self._poll, event.wait())

    async def ready(self) -> bool:
        return self._db is not None

    async def depth(self, queue: str) -> int:
        cursor = await self._conn.execute(
            "SELECT count(*) FROM queue_messages WHERE queue = ?", (queue,)
        )
        row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def take(self, queue: str, limit: int) -> list[Delivery]:
        return list(await self._lease(queue, limit))
