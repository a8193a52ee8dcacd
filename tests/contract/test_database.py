"""Migrations and the ledger on both databases: SQLite (dev) and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import inspect

from herald.adapters.db.engine import create_engine
from herald.bootstrap import SERVICES, migrate
from herald.config import Settings
from herald.kit.ledger import Ledger
from herald.services.email_worker.models import EmailDelivery
from tests.servers import pg_url, postgres_databases, unique

EXPECTED = {
    "gateway": {"api_keys", "notifications", "notification_events", "outbox"},
    "users": {"users", "devices"},
    "templates": {"templates", "template_versions"},
    "email_worker": {"email_deliveries"},
    "push_worker": {"push_deliveries"},
}


@pytest_asyncio.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/herald.db"
        return
    name = unique("herald_t")
    async with postgres_databases([name]):
        yield pg_url(name)


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names


class TestMigrations:
    async def test_every_service_gets_its_tables_and_its_own_version_table(
        self, database_url: str
    ) -> None:
        settings = Settings(database_url=database_url, jwt_secret="x" * 40)
        await migrate(settings)
        await migrate(settings)  # a second run is a no-op
        tables = await _tables(database_url)
        for service in SERVICES:
            assert EXPECTED[service] <= tables
            assert f"alembic_version_{service}" in tables

    async def test_placeholder_gives_each_service_its_own_database(self) -> None:
        base = unique("herald_t")
        names = [f"{base}_{s}" for s in SERVICES]
        async with postgres_databases(names):
            settings = Settings(database_url=pg_url(base + "_{service}"), jwt_secret="x" * 40)
            await migrate(settings)
            for service in SERVICES:
                tables = await _tables(pg_url(f"{base}_{service}"))
                assert EXPECTED[service] <= tables
                others = set().union(*(EXPECTED[o] for o in SERVICES if o != service))
                assert not (tables & others), f"{service} holds another service's tables"


class TestLedger:
    async def test_records_once_even_when_recorded_concurrently(self, database_url: str) -> None:
        settings = Settings(database_url=database_url, jwt_secret="x" * 40)
        await migrate(settings, ["email_worker"])
        engine = create_engine(database_url)
        # Two workers' ledgers on the same table, each grouping its own calls.
        ledgers = [Ledger(engine, EmailDelivery) for _ in range(2)]
        for ledger in ledgers:
            await ledger.start()
        try:
            nid, other = uuid.uuid4(), uuid.uuid4()
            assert not await ledgers[0].delivered(nid)
            await asyncio.gather(
                *(ledger.record(nid) for ledger in ledgers for _ in range(5)),
                ledgers[1].record(other),
            )
            found = await asyncio.gather(
                *(ledgers[0].delivered(i) for i in (nid, uuid.uuid4(), other, nid))
            )
            assert found == [True, False, True, True]
        finally:
            for ledger in ledgers:
                await ledger.stop()
            await engine.dispose()
