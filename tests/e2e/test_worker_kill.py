"""An email worker killed with SIGKILL mid-batch and restarted: nothing is lost, and
no more duplicates than the messages it had in flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from tests.e2e.processes import Services, create_user, notification, own_stack
from tests.smtp import SmtpServer

API_KEY = "hk_kill_" + "k" * 40
PREFETCH = 16
TOTAL = 150


@pytest_asyncio.fixture
async def stack(amqp_url: str, smtp_server: SmtpServer, tmp_path: Path) -> AsyncIterator[Services]:
    async with own_stack(
        amqp_url,
        tmp_path,
        ("users", "templates", "gateway", "email_worker"),
        api_key=API_KEY,
        smtp_url=smtp_server.url,
        HERALD_WORKER_PREFETCH=str(PREFETCH),
    ) as (running, _):
        yield running


class TestWorkerKill:
    async def test_sigkill_mid_batch_loses_nothing(
        self, stack: Services, smtp_server: SmtpServer
    ) -> None:
        smtp_server.delay = 0.2  # about 20 mails a second (4 connections): a kill lands mid-batch
        auth = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(
            base_url=stack.url("gateway"), headers=auth, timeout=10
        ) as client:
            user = await create_user(client)

            async def accept() -> str:
                response = await client.post(
                    "/api/v1/notifications/",
                    json=notification(user["id"]),
                )
                return str(response.json()["data"]["notification_id"])

            async def accept_all() -> list[str]:
                ids: list[str] = []
                for _ in range(TOTAL // 10):
                    ids += await asyncio.gather(*(accept() for _ in range(10)))
                return ids

            # When the worker is killed while notifications are still arriving
            accepting = asyncio.create_task(accept_all())
            await smtp_server.wait_for(20, timeout=60)
            stack["email_worker"].kill()  # SIGKILL: no chance to finish or ack anything
            at_kill = len(smtp_server.received)
            stack["email_worker"].start()
            await stack["email_worker"].wait_healthy()
            ids = await accepting
            # Then every notification is delivered once the worker is back
            for nid in ids:
                for _ in range(600):
                    found = (await client.get(f"/api/v1/notifications/{nid}")).json()["data"]
                    if found["status"] == "delivered":
                        break
                    await asyncio.sleep(0.1)
                assert found["status"] == "delivered", found
        unique_ids = {m["X-Herald-Notification-Id"] for m in smtp_server.received}
        lost = set(ids) - unique_ids
        duplicates = len(smtp_server.received) - len(unique_ids)
        print(
            f"\naccepted={TOTAL} delivered_before_kill={at_kill} delivered={len(unique_ids)} "
            f"lost={len(lost)} duplicates={duplicates} prefetch={PREFETCH}"
        )
        assert not lost
        assert duplicates <= PREFETCH
