from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.servers import (
    REDIS,
    drop_redis_prefix,
    drop_template,
    finish_vhosts,
    need,
    pg_url,
    postgres_databases,
    rabbit_vhost,
    unique,
)
from tests.smtp import SmtpServer


@pytest_asyncio.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database shared by every service of the test."""
    name = unique("herald_t")
    async with postgres_databases([name], migrated=True):
        yield pg_url(name)


@pytest_asyncio.fixture
async def redis_url() -> AsyncIterator[tuple[str, str]]:
    """Redis, and a key prefix no other test uses (deleted afterwards)."""
    need("Redis", REDIS)
    prefix = unique("herald_t")
    yield f"redis://{REDIS[0]}:{REDIS[1]}/0", prefix
    await drop_redis_prefix(prefix)


@pytest_asyncio.fixture
async def amqp_url() -> AsyncIterator[str]:
    """A RabbitMQ vhost of the test's own (deleted afterwards)."""
    async with rabbit_vhost() as url:
        yield url


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def _print_tasks(*_: object) -> None:
    """``kill -USR1 <pytest>`` prints where every asyncio task of the running test
    waits: what a test that hangs is waiting for."""
    try:
        tasks = asyncio.all_tasks(asyncio.get_running_loop())
    except RuntimeError:
        print("no event loop is running", file=sys.stderr)
        return
    for task in tasks:
        task.print_stack(file=sys.stderr)


signal.signal(signal.SIGUSR1, _print_tasks)

_cancel_all_tasks = asyncio.runners._cancel_all_tasks  # type: ignore[attr-defined]


def _cancel_or_name_the_stuck(loop: asyncio.AbstractEventLoop) -> None:
    """What a test's event loop does as it closes, with a time limit: a task that
    ignores its cancellation fails the test, naming where it waits, instead of
    hanging the suite."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        _, stuck = loop.run_until_complete(asyncio.wait(tasks, timeout=15))
        if stuck:
            where = "; ".join(
                f"{t.get_name()} {t.get_coro()!r} at "
                + ", ".join(f"{f.f_code.co_filename}:{f.f_lineno}" for f in t.get_stack())
                for t in stuck
            )
            raise RuntimeError(f"tasks ignored their cancellation for 15 s: {where}")
    _cancel_all_tasks(loop)  # what is left: report exceptions as asyncio does


asyncio.runners._cancel_all_tasks = _cancel_or_name_the_stuck  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_template()  # the migrated database tests' databases were copied from
    finish_vhosts()  # removals still running, and vhosts made but not taken
