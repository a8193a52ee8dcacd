"""Migrations, the ledger, and the gateway's intake and outbox relay on both databases:
SQLite (dev) and PostgreSQL (where they run their own statements on the driver)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald.adapters.broker.embedded import EmbeddedBroker
from herald.adapters.db.engine import create_engine
from herald.bootstrap import SERVICES, make_gateway_store, make_ledger_store, migrate
from herald.config import Settings
from herald.delivery.ledger import Ledger
from herald.domain.clock import Clock, SystemClock
from herald.domain.errors import HeraldError
from herald.domain.messages import (
    WORK_QUEUES,
    DeliveryStatusChanged,
    Recipient,
    SendNotification,
    utcnow,
)
from herald.domain.statuses import Channel, Status
from herald.ports import BrokerUnavailable
from herald.services.email_worker.models import EmailDelivery
from herald.services.gateway import schemas
from herald.services.gateway.admission import Admission, Send, admission
from herald.services.gateway.intake import Intake
from herald.services.gateway.models import ApiKey, Notification, NotificationEvent, OutboxMessage
from herald.services.gateway.relay import OutboxRelay
from herald.services.gateway.routing import Route
from herald.services.gateway.status_events import StatusApplier
from tests.servers import pg_url, postgres_databases, unique

EXPECTED = {
    "gateway": {
        "api_keys",
        "notifications",
        "notification_events",
        "outbox",
        "topics",
        "topic_subscribers",
        "schedules",
        "digests",
    },
    "users": {"users", "devices", "suppressions"},
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


@pytest_asyncio.fixture
async def gateway_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """``database_url`` with the gateway's schema, as an engine disposed afterwards."""
    await migrate(Settings(database_url=database_url, jwt_secret="x" * 40), ["gateway"])
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


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
        ledgers = [Ledger(make_ledger_store(engine, EmailDelivery.__table__)) for _ in range(2)]
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


async def _admission(
    engine: AsyncEngine,
    request_id: str,
    *,
    skip: str | None = None,
    key_id: uuid.UUID | None = None,
    user: uuid.UUID | None = None,
    clock: Clock | None = None,
    **fields: Any,
) -> Admission:
    """An accepted notification, as the gateway builds it; under a new API key unless
    ``key_id`` names one stored already."""
    if key_id is None:
        key_id = uuid.uuid4()
        async with AsyncSession(engine) as session, session.begin():
            session.add(ApiKey(id=key_id, name="k", prefix="hk_t", key_hash=key_id.hex, scopes=[]))
    user = user or uuid.uuid4()
    body = schemas.NotificationIn(
        notification_type="email",
        user_id=user,
        template_code="welcome",
        variables=schemas.Variables(name="Ada", link="https://example.com/a"),  # type: ignore[arg-type]
        request_id=request_id,
        metadata={"topic": "news"},
        **fields,
    )
    recipient = Recipient(user_id=user, name="Ada", email="ada@example.com")
    return admission(
        api_key_id=key_id,
        send=Send.of(body),
        request_hash="h" * 64,
        plan=Route(3, "en", recipient, skip),
        correlation_id="req-1",
        clock=clock or SystemClock(),
    )


def test_an_admission_holds_every_column_of_a_notification_and_no_other() -> None:
    # The model is the one list of a notification's columns: the admission's row and
    # PostgreSQL's array statement are both held to it.
    body = schemas.NotificationIn(
        notification_type="email",
        user_id=uuid.uuid4(),
        template_code="welcome",
        variables=schemas.Variables(name="Ada"),
        request_id="r",
    )
    recipient = Recipient(user_id=body.user_id, name="Ada", email="ada@example.com")
    row = admission(
        api_key_id=uuid.uuid4(),
        send=Send.of(body),
        request_hash="h",
        plan=Route(1, "en", recipient, None),
        correlation_id=None,
        clock=SystemClock(),
    ).notification
    assert [f.name for f in fields(row)] == [a.key for a in Notification.__mapper__.column_attrs]


async def _count(engine: AsyncEngine, model: type) -> int:
    async with AsyncSession(engine) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestIntakeAndRelay:
    async def test_a_batch_stores_new_requests_and_relays_only_after_the_publish(
        self, gateway_engine: AsyncEngine, tmp_path: Path
    ) -> None:
        engine = gateway_engine
        broker = EmbeddedBroker(tmp_path / "queue.db")
        store = make_gateway_store(engine)
        relay = OutboxRelay(store, broker)
        intake = Intake(store, relay)
        try:
            sent = await _admission(engine, "r-1")
            skipped = await _admission(engine, "r-2", skip="user turned email notifications off")
            # The same api key and request_id as ``sent``, in the same batch: a replay.
            again = await _admission(engine, "r-1")
            again.notification.api_key_id = sent.notification.api_key_id
            assert await intake._store([sent, skipped, again]) == [True, True, False]

            async with AsyncSession(engine) as session:
                stored = {n.id: n for n in await session.scalars(select(Notification))}
                events = list(await session.scalars(select(NotificationEvent)))
                outbox = list(await session.scalars(select(OutboxMessage)))
            assert set(stored) == {sent.notification.id, skipped.notification.id}
            first = stored[sent.notification.id]
            assert (first.status, first.template_version, first.locale) == ("pending", 3, "en")
            assert first.variables == {"name": "Ada", "link": "https://example.com/a", "meta": None}
            assert first.extra == {"topic": "news"}
            assert first.recipient == {"email": "ada@example.com"}
            assert stored[skipped.notification.id].last_error == skipped.event.error
            assert sorted(
                (e.notification_id, e.status, e.attempt, e.error) for e in events
            ) == sorted(
                (a.notification.id, a.event.status, 0, a.event.error) for a in (sent, skipped)
            )
            assert [(o.routing_key, o.message_id, o.correlation_id, o.body) for o in outbox] == [
                (
                    "email",
                    str(sent.notification.id),
                    "req-1",
                    sent.outbox and sent.outbox.body,
                )
            ]

            # Publishing fails (the broker is not running): the rows stay for later.
            with pytest.raises(BrokerUnavailable, match="not started"):
                await relay.relay_once()
            assert await _count(engine, OutboxMessage) == 1
            await broker.start()
            assert await relay.relay_once() == 1
            assert await _count(engine, OutboxMessage) == 0
            [queued] = await broker.take(WORK_QUEUES[Channel.EMAIL], 10)
            command = SendNotification.model_validate_json(queued.body)
            assert command.notification_id == sent.notification.id
            assert await relay.relay_once() == 0
        finally:
            await broker.close()

    async def test_the_relay_gives_way_to_a_release_one_batch_per_wake_up(
        self, gateway_engine: AsyncEngine, tmp_path: Path
    ) -> None:
        engine = gateway_engine
        broker = EmbeddedBroker(tmp_path / "queue.db")
        await broker.start()
        store = make_gateway_store(engine)
        # Idle for a minute: only a wake-up moves it on within this test.
        relay = OutboxRelay(store, broker, batch_size=2, idle_seconds=60)
        relay.GIVE_WAY_SECONDS = 0.5
        queue = WORK_QUEUES[Channel.EMAIL]
        try:
            admitted = [await _admission(engine, f"r-{i}") for i in range(7)]
            assert await Intake(store, relay)._store(admitted) == [True] * 7

            async def published(expected: int) -> None:
                async def reached() -> None:
                    while await broker.depth(queue) < expected:
                        await asyncio.sleep(0.02)

                await asyncio.wait_for(reached(), 5)
                await asyncio.sleep(0.2)  # and no more than that
                assert await broker.depth(queue) == expected

            relay.give_way()
            await relay.start()
            await published(2)  # one full batch, then it waits
            relay.give_way()
            relay.wake()
            await published(4)
            await asyncio.sleep(0.5)  # the last give_way has lapsed
            relay.wake()
            await published(7)  # batch after batch again
        finally:
            await relay.stop()
            await broker.close()

    async def test_status_events_move_notifications_in_time_order(
        self, gateway_engine: AsyncEngine, tmp_path: Path
    ) -> None:
        engine = gateway_engine
        broker = EmbeddedBroker(tmp_path / "queue.db")
        store = make_gateway_store(engine)
        statuses = StatusApplier(store, broker)
        sent = await _admission(engine, "r-1")
        skipped = await _admission(engine, "r-2", skip="user has no email address")
        await Intake(store, OutboxRelay(store, broker))._store([sent, skipped])
        at = utcnow()

        def event(a: Admission, status: Status, attempts: int, error: str | None, s: int):
            return DeliveryStatusChanged(
                notification_id=a.notification.id,
                channel=Channel.EMAIL,
                status=status,
                attempts=attempts,
                error=error,
                timestamp=at.replace(microsecond=0) + timedelta(seconds=s),
            )

        # Out of order in the batch: applied by their timestamps.
        await statuses._apply(
            [
                event(sent, Status.DELIVERED, 2, None, 2),
                # What a remote server said may hold a NUL, which PostgreSQL refuses.
                event(sent, Status.PENDING, 1, "451 try\x00later", 1),
                event(skipped, Status.DELIVERED, 1, None, 1),  # skipped stays skipped
                event(sent, Status.PENDING, 3, "late retry", 3),  # never back to pending
                DeliveryStatusChanged(
                    notification_id=uuid.uuid4(),
                    channel=Channel.EMAIL,
                    status=Status.DELIVERED,
                    attempts=1,
                    timestamp=at,
                ),
            ]
        )
        async with AsyncSession(engine) as session:
            found = {n.id: n for n in await session.scalars(select(Notification))}
            history = list(
                await session.scalars(
                    select(NotificationEvent).order_by(NotificationEvent.timestamp)
                )
            )
        moved = found[sent.notification.id]
        assert (moved.status, moved.attempts, moved.last_error) == ("delivered", 2, None)
        assert moved.updated_at > at
        assert found[skipped.notification.id].status == "skipped"
        assert [
            (e.status, e.attempt, e.error)
            for e in history
            if e.notification_id == sent.notification.id
        ] == [
            ("pending", 0, None),
            ("pending", 1, "451 try\ufffdlater"),
            ("delivered", 2, None),
        ]

    async def test_a_row_postgres_refuses_fails_alone(self, tmp_path: Path) -> None:
        # Validation refuses what PostgreSQL cannot store; should anything get past it,
        # the requests sharing its group commit are stored all the same.
        name = unique("herald_t")
        async with postgres_databases([name]):
            await migrate(Settings(database_url=pg_url(name), jwt_secret="x" * 40), ["gateway"])
            engine = create_engine(pg_url(name))
            broker = EmbeddedBroker(tmp_path / "queue.db")
            store = make_gateway_store(engine)
            intake = Intake(store, OutboxRelay(store, broker))
            try:
                good = [await _admission(engine, f"r-{i}") for i in range(3)]
                poisoned = await _admission(engine, "r-poisoned")
                poisoned.notification.request_id = "r-\x00"  # past validation
                results = await intake._store([good[0], poisoned, good[1], good[2]])
                assert results[0] is True and results[2] is True and results[3] is True
                refused = results[1]
                assert isinstance(refused, HeraldError) and refused.status_code == 422
                assert "cannot be stored" in refused.error
                assert await _count(engine, Notification) == 3
                assert await _count(engine, OutboxMessage) == 3
                await intake.start()
                with pytest.raises(HeraldError, match="cannot be stored"):
                    await intake.admit(poisoned)  # alone, and through the batcher
                await intake.stop()
            finally:
                await engine.dispose()


async def test_replicas_bootstrapping_the_same_key_together_both_start(postgres_url: str) -> None:
    """Two gateways start at once with one HERALD_BOOTSTRAP_API_KEY: the second one's
    insert waits on the first's, then fails on the unique hash, and must not stop it."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from herald.services.gateway import keys

    await migrate(Settings(database_url=postgres_url, jwt_secret="x" * 40), ["gateway"])
    engine = create_engine(postgres_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    key = keys.generate()
    try:
        async with sessions() as first, first.begin():
            await keys.ensure(first, key)  # inserted, not yet committed
            second = asyncio.create_task(keys.bootstrap(sessions, key))
            await asyncio.sleep(0.3)
            assert not second.done()  # blocked on the first insert's index entry
        await asyncio.wait_for(second, 10)
        async with AsyncSession(engine) as session:
            rows = list(await session.scalars(select(ApiKey)))
        assert [(r.key_hash, r.scopes) for r in rows] == [(keys.digest(key), ["admin"])]
    finally:
        await engine.dispose()
