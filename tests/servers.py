"""The real servers tests run against, each isolated per test: a fresh PostgreSQL
database, a Redis key prefix, a RabbitMQ vhost. Locally a missing server skips the
test; in CI (CI=true) it fails it."""

from __future__ import annotations

import asyncio
import atexit
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


async def _on_postgres(*statements: str) -> None:
    """``statements`` in turn on the server's own database, on a connection of their
    own: a test may have restarted the server since the last."""
    conn = await asyncpg.connect(user="postgres", host=PG[0], port=PG[1], database="postgres")
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


# A database holding every service's schema, made once per test session and dropped at
# its end (conftest.py): copying it (CREATE DATABASE … TEMPLATE) gives a test a migrated
# database about a second sooner than migrating a new one, a second that a few hundred
# tests spent. Tests of the migrations themselves start from empty databases.
_template: str | None = None


async def migrated_template() -> str:
    global _template
    if _template is None:
        from herald.bootstrap import migrate
        from herald.config import Settings

        need("PostgreSQL", PG)
        name = unique("herald_template")
        await _on_postgres(f'CREATE DATABASE "{name}"')
        await migrate(Settings(database_url=pg_url(name), jwt_secret="t" * 40))
        _template = name
        # A benchmark's process has no session end: it goes when the process does.
        atexit.register(drop_template)
    return _template


def drop_template() -> None:
    """At the session's end: the template goes too."""
    global _template
    if _template is None:
        return
    name, _template = _template, None
    asyncio.run(_on_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@asynccontextmanager
async def postgres_databases(
    names: Sequence[str], *, migrated: bool = False
) -> AsyncIterator[None]:
    """Databases of the test's own, dropped afterwards; ``migrated``: with every
    service's schema already in them."""
    need("PostgreSQL", PG)
    template = f' TEMPLATE "{await migrated_template()}"' if migrated else ""
    try:
        await _on_postgres(*(f'CREATE DATABASE "{name}"{template}' for name in names))
        yield
    finally:
        await _on_postgres(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names))


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


def _made(vhosts: Sequence[str]) -> str:
    """One rabbitmqctl call that makes ``vhosts`` with guest's permissions: each call
    starts an Erlang VM (about a second and most of a core here)."""
    every = '<<".*">>'
    return (
        ", ".join(
            f'ok = rabbit_vhost:add(<<"{v}">>, <<"tests">>), '
            f'ok = rabbit_auth_backend_internal:set_permissions(<<"guest">>, <<"{v}">>, '
            f'{every}, {every}, {every}, <<"tests">>)'
            for v in vhosts
        )
        + "."
    )


# Vhosts are made sixteen at a time and each given to one test only; each is removed
# when its test ends (which also closes every connection to it the test left behind),
# by a rabbitmqctl the test does not wait for. Made and removed one at a time, with
# the test waiting, they cost almost two seconds of every test on the real servers.
_fresh: list[str] = []
_removing: list[subprocess.Popen[bytes]] = []


def _take_vhost() -> str:
    if not _fresh:
        made = [unique("herald_t") for _ in range(16)]
        _rabbitmqctl("eval", _made(made))
        _fresh.extend(made)
        atexit.register(finish_vhosts)  # as the template: a benchmark's too
    return _fresh.pop()


def _remove_later(vhost: str) -> None:
    _removing[:] = [p for p in _removing if p.poll() is None]
    _removing.append(
        subprocess.Popen(
            ["rabbitmqctl", "-q", "delete_vhost", vhost],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )


def finish_vhosts() -> None:
    """At the session's end: every removal done, and the vhosts no test took gone."""
    for process in _removing:
        process.wait(timeout=120)
    _removing.clear()
    if _fresh:
        deleted = ", ".join(f'rabbit_vhost:delete(<<"{v}">>, <<"tests">>)' for v in _fresh)
        _rabbitmqctl("eval", f"[{deleted}].")
        _fresh.clear()


@asynccontextmanager
async def rabbit_vhost() -> AsyncIterator[str]:
    """A vhost of the caller's own, removed afterwards: removing it also closes every
    connection to it that a test left behind."""
    need("RabbitMQ", AMQP)
    vhost = await asyncio.to_thread(_take_vhost)
    try:
        yield f"amqp://guest:guest@{AMQP[0]}:{AMQP[1]}/{vhost}"
    finally:
        _remove_later(vhost)
