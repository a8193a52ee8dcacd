"""A gateway killed with SIGKILL in the middle of a topic send's fan-out and started
again: the fan-out resumes where its last committed page ended, and every subscriber
gets exactly one child."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest_asyncio

from tests.e2e.processes import Services, notification, own_stack
from tests.servers import pg_dsn, stored_users

API_KEY = "hk_fan_" + "k" * 40
SUBSCRIBERS = 4000
PAGE = 20  # 200 pages: the kill lands between two of them


@pytest_asyncio.fixture
async def stack(amqp_url: str, tmp_path: Path) -> AsyncIterator[tuple[Services, str]]:
    async with own_stack(
        amqp_url,
        tmp_path,
        ("users", "templates", "gateway"),
        api_key=API_KEY,
        HERALD_FANOUT_PAGE_SIZE=str(PAGE),
    ) as found:
        yield found


async def children(database: str, parent_id: str) -> list[Any]:
    conn = await asyncpg.connect(pg_dsn(database))
    try:
        return list(
            await conn.fetch(
                "SELECT user_id, count(*) AS n FROM notifications WHERE parent_id = $1 "
                "GROUP BY user_id",
                uuid.UUID(parent_id),
            )
        )
    finally:
        await conn.close()


class TestFanoutKill:
    async def test_sigkill_mid_fanout_gives_every_subscriber_exactly_one_child(
        self, stack: tuple[Services, str]
    ) -> None:
        running, database = stack
        users = await stored_users(pg_dsn(database), SUBSCRIBERS)
        auth = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(
            base_url=running.url("gateway"), headers=auth, timeout=30
        ) as client:
            await client.post("/api/v1/topics/", json={"key": "all", "name": "All"})
            added = await client.post("/api/v1/topics/all/subscribers", json={"user_ids": users})
            assert added.json()["data"]["subscribers"] == SUBSCRIBERS, added.text
            sent = await client.post(
                "/api/v1/notifications/",
                json={**notification(users[0]), "user_id": None, "topic": "all"},
            )
            assert sent.status_code == 202, sent.text
            parent_id = sent.json()["data"]["notification_id"]

            # When the gateway is killed once some pages are stored, and not all
            while not await children(database, parent_id):
                await asyncio.sleep(0.01)
            running["gateway"].kill()
            made = sum(r["n"] for r in await children(database, parent_id))
            assert 0 < made < SUBSCRIBERS, f"the kill did not land mid-fan-out ({made})"

            # Then, started again, it finishes the fan-out
            running["gateway"].start()
            await running["gateway"].wait_healthy()
            for _ in range(600):
                parent = (await client.get(f"/api/v1/notifications/{parent_id}")).json()["data"]
                if parent["status"] == "delivered":
                    break
                await asyncio.sleep(0.1)
            assert parent["status"] == "delivered", parent
            assert parent["fanout"] == {"total": SUBSCRIBERS, "accepted": SUBSCRIBERS, "skipped": 0}
        # ... with one child per subscriber, none twice
        rows = await children(database, parent_id)
        assert sorted(str(r["user_id"]) for r in rows) == sorted(users)
        assert {r["n"] for r in rows} == {1}
