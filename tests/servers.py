"""The real servers tests run against, each isolated per test: a fresh PostgreSQL
database, a Redis key prefix, a RabbitMQ vhost. Locally a missing server skips the
test; in CI (CI=true) it fails it."""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest
import redis.asyncio as aioredis

IN_CI = os.environ.get("CI", "").lower() == "true"
PG = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
AMQP = ("127.0.0.1", 5672)


def reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def need(name: str, address: tuple[str, int]) -> None:
    if reachable(address):
        return
    message = f"{name} is not running on {address[0]}:{address[1]}"
    if IN_CI:
        pytest.fail(f"{message}; CI needs it")
    pytest.skip(message)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def postgres_databases(names: Sequence[str]) -> AsyncIterator[None]:
    need("PostgreSQL", PG)
    conn = await asyncpg.connect(user="postgres", host=PG[0], port=PG[1], database="postgres")
    try:
        for name in names:
            await conn.execute(f'CREATE DATABASE "{name}"')
        yield
    finally:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def stored_users(dsn: str, count: int) -> list[str]:
    """``count`` users written straight into the users service's table at ``dsn``:
    creating thousands through the API would spend minutes hashing their passwords.
    Their ids, as strings."""
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(count)]
    rows = [
        (u, f"User {i}", f"user{i}@example.com", "x", "en", "UTC", True, True, 0, now, now)
        for i, u in enumerate(ids)
    ]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("users", records=rows, columns=_USER_COLUMNS)
    finally:
        await conn.close()
    return [str(u) for u in ids]


_USER_COLUMNS = [
    "id",
    "name",
    "email",
    "password_hash",
    "locale",
    "timezone",
    "email_enabled",
    "push_enabled",
    "token_version",
    "created_at",
    "updated_at",
]


def pg_dsn(name: str) -> str:
    """The database ``name`` for asyncpg itself."""
    return f"postgresql://postgres@{PG[0]}:{PG[1]}/{name}"


def pg_url(name: str) -> str:
    return f"postgresql+asyncpg://postgres@{PG[0]}:{PG[1]}/{name}"


async def drop_redis_prefix(prefix: str) -> None:
    client = aioredis.Redis(host=REDIS[0], port=REDIS[1])
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=120
    )
    return done.stdout


def _erlang_binaries(names: Sequence[str]) -> str:
    return "[" + ", ".join(f'<<"{n}">>' for n in names) + "]"


class _Vhosts:
    """Fresh vhosts, made a batch at a time and removed together when the process ends.

    Every rabbitmqctl call starts an Erlang VM: about 1.5 s and most of a core here.
    One per vhost made and one per vhost removed was most of what a test on the real
    servers spent before its first request. Each vhost still serves one test only."""

    BATCH = 16

    def __init__(self) -> None:
        self._free: list[str] = []
        self._taken: list[str] = []
        self._lock = threading.Lock()

    def take(self) -> str:
        with self._lock:
            if not self._free:
                names = [unique("herald_t") for _ in range(self.BATCH)]
                _rabbitmqctl("eval", self._made(names))
                if not self._taken:
                    atexit.register(self.remove_all)
                self._free = names
            vhost = self._free.pop()
            self._taken.append(vhost)
            return vhost

    @staticmethod
    def _made(names: Sequence[str]) -> str:
        guest, every = '<<"guest">>', '<<".*">>'
        return (
            '[begin ok = rabbit_vhost:add(V, <<"tests">>), '
            f"ok = rabbit_auth_backend_internal:set_permissions({guest}, V, {every}, "
            f'{every}, {every}, <<"tests">>) end || V <- {_erlang_binaries(names)}].'
        )

    def remove_all(self) -> None:
        with self._lock:
            gone, self._free, self._taken = [*self._free, *self._taken], [], []
        if gone and reachable(AMQP):
            _rabbitmqctl(
                "eval",
                f'[rabbit_vhost:delete(V, <<"tests">>) || V <- {_erlang_binaries(gone)}].',
            )


_VHOSTS = _Vhosts()


@asynccontextmanager
async def rabbit_vhost() -> AsyncIterator[str]:
    """A vhost no one else uses, with guest's permissions; removed when the process
    ends (with every other vhost it made)."""
    need("RabbitMQ", AMQP)
    vhost = await asyncio.to_thread(_VHOSTS.take)
    yield f"amqp://guest:guest@{AMQP[0]}:{AMQP[1]}/{vhost}"
