"""Retention on SQLite and PostgreSQL: what is past HERALD_RETENTION_DAYS and final
goes with its history, in batches; what is pending or scheduled stays however old;
what is recent stays; closed digest windows go too; two sweeps at once remove each
notification once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select, update

from herald.adapters.db.engine import create_engine
from herald.kit.db import sessionmaker
from herald.services.gateway.models import FeedItem, Notification, NotificationEvent
from herald.services.gateway.retention import Retention
from tests.clock import ManualClock
from tests.integration.pipeline import Stack, stack_on


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_on(request.param, tmp_path) as s:
        yield s


async def _count(sessions: object, model: type) -> int:
    async with sessions() as session:  # type: ignore[operator]
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_old_final_notifications_go_with_their_history(stack: Stack) -> None:
    user = await stack.user()
    old = []
    for _ in range(5):  # skipped at once: the user has no push device
        sent = await stack.send(stack.notification(user["id"], notification_type="push"))
        old.append(sent.json()["data"]["notification_id"])
    shown = await stack.send(stack.notification(user["id"], notification_type="in_app"))
    old.append(shown.json()["data"]["notification_id"])
    await stack.until(old[-1], "delivered")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    waiting = await stack.send(stack.notification(user["id"], send_at=tomorrow))
    assert waiting.status_code == 202, waiting.text
    for n in old[:-1]:
        await stack.until(n, "skipped")

    engine = create_engine(stack.settings.database_url_for("gateway"))
    sessions = sessionmaker(engine)
    try:
        clock = ManualClock(datetime.now(UTC))
        retention = Retention(sessions, clock, days=30, batch=2)
        assert await retention.sweep() == 0  # nothing is 30 days old yet
        clock.advance(days=31)
        events_before = await _count(sessions, NotificationEvent)
        assert await _count(sessions, FeedItem) == 1
        assert await retention.sweep() == 6  # in batches of two
        assert await _count(sessions, FeedItem) == 0  # the in-app item went with it
        async with sessions() as session:
            left = list(await session.scalars(select(Notification.status)))
            history = await session.scalar(select(func.count()).select_from(NotificationEvent))
        assert left == ["scheduled"]  # not final: kept, however old
        assert history is not None and history < events_before
        for n in old:
            gone = await stack.client.get(f"/api/v1/notifications/{n}", headers=stack.auth)
            assert gone.status_code == 404

        # Two sweeps at once: each old notification removed once, the recent one kept.
        for _ in range(6):
            sent = await stack.send(stack.notification(user["id"], notification_type="push"))
            await stack.until(sent.json()["data"]["notification_id"], "skipped")
        clock.advance(days=31)
        fresh = await stack.send(stack.notification(user["id"], notification_type="push"))
        await stack.until(fresh.json()["data"]["notification_id"], "skipped")
        async with sessions() as session:
            await session.execute(
                update(Notification)
                .where(Notification.id == uuid.UUID(fresh.json()["data"]["notification_id"]))
                .values(created_at=clock.now())
            )
            await session.commit()
        both = await asyncio.gather(retention.sweep(), retention.sweep())
        assert sum(both) == 6
        assert await _count(sessions, Notification) == 2  # the scheduled one, the fresh one
    finally:
        await engine.dispose()
