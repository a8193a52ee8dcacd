"""Scheduled notifications are rows, not timers: a gateway killed with SIGKILL between
accepting them and their time, then started again, still sends each once and on time;
and two gateways running side by side fire each schedule once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from tests.e2e.processes import Services, create_user, notification, own_stack
from tests.smtp import SmtpServer

API_KEY = "hk_sched_" + "k" * 40
COUNT = 200


@pytest_asyncio.fixture
async def stack(amqp_url: str, smtp_server: SmtpServer, tmp_path: Path) -> AsyncIterator[Services]:
    async with own_stack(
        amqp_url,
        tmp_path,
        ("users", "templates", "gateway", "gateway_2", "email_worker"),
        api_key=API_KEY,
        smtp_url=smtp_server.url,
    ) as (running, _):
        yield running


async def schedule(client: httpx.AsyncClient, user_id: str, due: datetime) -> list[str]:
    batch = await client.post(
        "/api/v1/notifications/batch",
        json={
            "notifications": [
                notification(user_id, send_at=due.isoformat(), request_id=uuid.uuid4().hex)
                for _ in range(COUNT)
            ]
        },
    )
    assert batch.status_code == 207, batch.text
    assert {r["status_code"] for r in batch.json()["data"]} == {202}, batch.text
    return [r["notification_id"] for r in batch.json()["data"]]


async def delivered_on_time(
    client: httpx.AsyncClient, ids: list[str], due: datetime, smtp: SmtpServer
) -> None:
    """Each delivered, made pending within a second of ``due``, and mailed once."""
    for nid in ids:
        for _ in range(300):
            found: dict[str, Any] = (await client.get(f"/api/v1/notifications/{nid}")).json()[
                "data"
            ]
            if found["status"] == "delivered":
                break
            await asyncio.sleep(0.1)
        assert found["status"] == "delivered", found
        [released] = [h for h in found["history"] if h["status"] == "pending"]
        late = datetime.fromisoformat(released["timestamp"]) - due
        assert timedelta(0) <= late < timedelta(seconds=1), (due, released)
    sent = Counter(m["X-Herald-Notification-Id"] for m in smtp.received)
    assert all(sent[nid] == 1 for nid in ids), [n for n in ids if sent[n] != 1]


class TestScheduleKill:
    async def test_schedules_survive_sigkill_and_fire_once_with_two_gateways(
        self, stack: Services, smtp_server: SmtpServer
    ) -> None:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(
            base_url=stack.url("gateway_2"), headers=auth, timeout=30
        ) as client:
            user = await create_user(client)

            # Two gateways: every schedule fires once, on time.
            due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
            both = await schedule(client, user["id"], due)
            await delivered_on_time(client, both, due, smtp_server)

            # One gateway, killed between the accept and the time, and started again:
            # what it accepted still goes, once and on time.
            stack["gateway_2"].kill()
            async with httpx.AsyncClient(
                base_url=stack.url("gateway"), headers=auth, timeout=30
            ) as alone:
                due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
                ids = await schedule(alone, user["id"], due)
                stack["gateway"].kill()
                stack["gateway"].start()
                await stack["gateway"].wait_healthy()
                assert datetime.now(UTC) < due, "the gateway came back after the due time"
                await delivered_on_time(alone, ids, due, smtp_server)
        assert len(smtp_server.received) == 2 * COUNT
