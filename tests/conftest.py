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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_template()  # the migrated database tests' databases were copied from
    finish_vhosts()  # removals still running, and vhosts made but not taken
