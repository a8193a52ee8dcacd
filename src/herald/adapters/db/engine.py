"""Engines for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

# Set on a connection's record when a transaction pooler is between Herald and
# PostgreSQL: single statements then run in a transaction of their own.
_POOLED = "herald.transaction_pooled"


def create_engine(
    url: str, *, pool_size: int = 10, transaction_pooled: bool = False
) -> AsyncEngine:
    """``transaction_pooled``: PostgreSQL is reached through a pooler in transaction
    mode (PgBouncer's ``pool_mode = transaction``), which gives each transaction any
    of its server connections, so a statement prepared in one transaction is unknown
    in the next. asyncpg then keeps no statement cache, each statement SQLAlchemy
    prepares gets a name of its own (two clients' statements never meet on one server
    connection), and the hot path's single statements, which asyncpg prepares and
    runs in two round trips, run in a transaction that holds one server connection for
    both. Advisory locks are transaction-scoped already (``pg_advisory_xact_lock``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    connect_args: dict[str, Any] = {"timeout": 5, "command_timeout": 15}
    if transaction_pooled:
        parsed = parsed.update_query_dict({"prepared_statement_cache_size": "0"})
        connect_args |= {
            "statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__herald_{uuid.uuid4().hex}__",
        }
    engine = create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args=connect_args,
    )

    if transaction_pooled:

        @event.listens_for(engine.sync_engine, "connect")
        def _pooled(_dbapi_connection: Any, record: Any) -> None:
            record.info[_POOLED] = True

    # Instead of pool_pre_ping's round trip on every checkout: a connection the server
    # or the network already closed is known locally, and the pool replaces it. One that
    # breaks while in use fails its statement, and SQLAlchemy then drops the whole pool.
    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        raw = getattr(dbapi_connection, "_connection", None)
        if raw is not None and raw.is_closed():
            raise DisconnectionError("connection was closed")

    return engine


def _sqlite_engine(url: str, database: str | None) -> AsyncEngine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    # SQLite upgrades a reading transaction to a writing one by failing with
    # SQLITE_BUSY when another connection wrote first; starting every transaction
    # with BEGIN IMMEDIATE makes writers queue on busy_timeout instead
    # (https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl).
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def postgres_driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn``: for the hot path's single statements,
    where SQLAlchemy's execution costs (measured) three times the CPU of asyncpg
    running the same statement."""
    return (await conn.get_raw_connection()).driver_connection


@asynccontextmanager
async def single_statements(conn: AsyncConnection) -> AsyncIterator[Any]:
    """``postgres_driver`` for statements that commit by themselves: in a transaction
    of their own behind a transaction pooler (see ``create_engine``), as they are."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if not raw.info.get(_POOLED):
        yield driver
        return
    async with driver.transaction():
        yield driver
