"""The scheduler's storage on both databases: due schedules released once however
many schedulers run, cancelled ones dropped, and digest windows joined and closed
whole."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from herald.bootstrap import make_gateway_store
from herald.domain.messages import SendNotification
from herald.services.gateway.admission import Admission
from herald.services.gateway.models import Digest, Notification, NotificationEvent, OutboxMessage
from herald.services.gateway.scheduler import Scheduler, compose
from herald.services.gateway.store import GatewayStore
from tests.clock import ManualClock
from tests.contract.test_database import (  # noqa: F401 (fixtures)
    _admission,
    database_url,
    gateway_engine,
)

NOON = "2026-06-01T12:00:00+00:00"


async def _due(engine: AsyncEngine, clock: ManualClock, count: int) -> list[Admission]:
    """``count`` notifications under one new API key, due five minutes from now."""
    key = (await _admission(engine, "first")).notification.api_key_id
    due = clock.now() + timedelta(minutes=5)
    return [
        await _admission(engine, f"r-{i}", key_id=key, clock=clock, send_at=due)
        for i in range(count)
    ]


async def _released_by_two(store: GatewayStore, clock: ManualClock, batch: int) -> int:
    """Two schedulers side by side, each until nothing is due; how many rounds ran."""

    async def scheduler() -> int:
        rounds = 0
        while (await store.release_due(clock.now(), batch)).claimed:
            rounds += 1
        return rounds

    return sum(await asyncio.gather(scheduler(), scheduler()))


async def test_due_schedules_are_released_once_by_two_schedulers(
    gateway_engine: AsyncEngine,  # noqa: F811
) -> None:
    engine = gateway_engine
    store = make_gateway_store(engine)
    clock = ManualClock(NOON)
    batch = await _due(engine, clock, 300)
    key, due = batch[0].notification.api_key_id, batch[0].notification.send_at
    assert due is not None
    later = await _admission(
        engine, "later", key_id=key, clock=clock, send_at=due + timedelta(hours=1)
    )
    assert {a.notification.status for a in batch} == {"scheduled"}
    assert await store.admit([*batch, later]) == {a.notification.id for a in [*batch, later]}
    cancelled = batch[0].notification.id
    async with AsyncSession(engine) as session, session.begin():
        n = await session.get(Notification, cancelled)
        assert n is not None
        n.status = "cancelled"

    assert (await store.release_due(clock.now(), 50)).claimed == 0  # not yet due
    clock.advance(minutes=5)
    rounds = await _released_by_two(store, clock, 25)
    assert rounds >= 12

    async with AsyncSession(engine) as session:
        messages = list(await session.scalars(select(OutboxMessage.message_id)))
        statuses = dict(
            (
                await session.execute(
                    select(Notification.status, func.count()).group_by(Notification.status)
                )
            ).all()
        )
        pending_events = await session.scalar(
            select(func.count()).where(NotificationEvent.status == "pending")
        )
    expected = {str(a.notification.id) for a in batch[1:]}
    assert len(messages) == len(expected) and set(messages) == expected
    assert statuses == {"pending": 299, "cancelled": 1, "scheduled": 1}
    assert pending_events == 299


async def test_a_digest_window_is_opened_once_and_closed_whole(gateway_engine: AsyncEngine) -> None:  # noqa: F811
    engine = gateway_engine
    store = make_gateway_store(engine)
    clock = ManualClock(NOON)
    window = {"key": "post-1", "window_seconds": 600}
    key = (await _admission(engine, "first")).notification.api_key_id
    user = uuid.uuid4()
    members = [
        await _admission(engine, f"m-{i}", key_id=key, user=user, clock=clock, digest=window)
        for i in range(12)
    ]
    # Twelve first members at once, each in its own transaction: one window.
    await asyncio.gather(*(store.admit([m]) for m in members))
    async with AsyncSession(engine) as session:
        digests = list(await session.scalars(select(Digest)))
    assert len(digests) == 1

    assert (await store.close_digests(clock.now(), 10, compose)).claimed == 0
    clock.advance(seconds=600)
    # A member arriving once the window's time is up opens the next one.
    late = await _admission(engine, "late", key_id=key, user=user, clock=clock, digest=window)
    await store.admit([late])
    assert late.notification.digest_id != digests[0].id

    closed = await store.close_digests(clock.now(), 10, compose)
    assert (closed.claimed, closed.queued) == (1, 1)
    async with AsyncSession(engine) as session:
        [message] = list(await session.scalars(select(OutboxMessage)))
        statuses = {
            n.id: n.status
            for n in await session.scalars(
                select(Notification).where(Notification.digest_id.is_not(None))
            )
        }
    command = SendNotification.model_validate_json(message.body)
    assert message.message_id == str(digests[0].id) == str(command.notification_id)
    assert command.variables["digest"]["count"] == 12
    assert statuses == {
        **{m.notification.id: "pending" for m in members},
        late.notification.id: "scheduled",
    }


async def test_a_scheduler_with_a_backlog_asks_the_relay_to_give_way(
    gateway_engine: AsyncEngine,  # noqa: F811
) -> None:
    engine = gateway_engine
    store = make_gateway_store(engine)
    clock = ManualClock(NOON)
    calls: list[str] = []
    scheduler = Scheduler(
        store,
        clock,
        on_queued=lambda: calls.append("wake"),
        on_topics=lambda: None,
        on_backlog=lambda: calls.append("give way"),
        batch_size=25,
    )
    await store.admit(await _due(engine, clock, 60))
    clock.advance(minutes=5)
    # 25 (a full round: more may be due), 25 + 10 in two lanes, then nothing.
    assert [await scheduler.step() for _ in range(3)] == [True, True, False]
    # The relay is told to give way before each wake-up of a round that was full.
    assert calls == ["give way", "wake", "give way", "wake"]
