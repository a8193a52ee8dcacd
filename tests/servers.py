"""The real servers tests run against, each isolated per test: a fresh PostgreSQL
database, a Redis key prefix, a RabbitMQ vhost. Locally a missing server skips the
test; in CI (CI=true) it fails it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
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


def _made(vhost: str) -> str:
    """One rabbitmqctl call that makes ``vhost`` with guest's permissions: each call
    starts an Erlang VM (about 1.5 s and most of a core here), and two were most of
    the setup of a test on the real servers."""
    every = '<<".*">>'
    return (
        f'ok = rabbit_vhost:add(<<"{vhost}">>, <<"tests">>), '
        f'rabbit_auth_backend_internal:set_permissions(<<"guest">>, <<"{vhost}">>, '
        f'{every}, {every}, {every}, <<"tests">>).'
    )


@asynccontextmanager
async def rabbit_vhost() -> AsyncIterator[str]:
    """A vhost of the caller's own, removed afterwards: removing it also closes every
    connection to it that a test left behind."""
    need("RabbitMQ", AMQP)
    vhost = unique("herald_t")
    await asyncio.to_thread(_rabbitmqctl, "eval", _made(vhost))
    try:
        yield f"amqp://guest:guest@{AMQP[0]}:{AMQP[1]}/{vhost}"
    finally:
        await asyncio.to_thread(_rabbitmqctl, "delete_vhost", vhost)
