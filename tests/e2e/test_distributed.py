"""Every service as its own OS process on PostgreSQL (a database each), Redis and
RabbitMQ, and an SMTP server started by the test: send through the gateway, see mail."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from tests.e2e.processes import Services, services
from tests.servers import REDIS, drop_redis_prefix, need, pg_url, postgres_databases, unique
from tests.smtp import SmtpServer

API_KEY = "hk_e2e_" + "k" * 40
SERVICES = ("gateway", "users", "templates", "email_worker", "push_worker")


@pytest_asyncio.fixture
async def distributed(
    amqp_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> AsyncIterator[Services]:
    need("Redis", REDIS)
    base = unique("herald_e2e")
    prefix = unique("herald_t")
    async with postgres_databases([f"{base}_{s}" for s in SERVICES]):
        values = {
            "HERALD_DATABASE_URL": pg_url(base + "_{service}"),
            "HERALD_BROKER_URL": amqp_url,
            "HERALD_REDIS_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0",
            "HERALD_KEY_PREFIX": prefix,
            "HERALD_SMTP_URL": smtp_server.url,
            "HERALD_JWT_SECRET": "e2e-secret-" + "s" * 40,
            "HERALD_BOOTSTRAP_API_KEY": API_KEY,
            "HERALD_RATE_LIMIT_PER_RECIPIENT": "100000/minute",
            "HERALD_LOG_JSON": "true",
        }
        async with services(values, tmp_path) as running:
            yield running
        await drop_redis_prefix(prefix)


class TestDistributed:
    async def test_notifications_flow_through_separate_processes(
        self, distributed: Services, smtp_server: SmtpServer
    ) -> None:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(
            base_url=distributed.url("gateway"), headers=auth, timeout=10
        ) as client:
            for name in SERVICES:
                ready = await httpx.AsyncClient().get(f"{distributed.url(name)}/ready")
                assert ready.status_code == 200, (name, ready.text)
            user = (
                await client.post(
                    "/api/v1/users/",
                    json={
                        "name": "Ada",
                        "email": "ada@example.com",
                        "password": "correct horse",
                        "preferences": {"email": True, "push": True},
                    },
                )
            ).json()["data"]
            ids = []
            for n in range(30):
                response = await client.post(
                    "/api/v1/notifications/",
                    json={
                        "notification_type": "email",
                        "user_id": user["id"],
                        "template_code": "password_reset" if n % 2 else "welcome",
                        "variables": {"name": "Ada", "link": f"https://example.com/{n}"},
                        "request_id": uuid.uuid4().hex,
                    },
                )
                assert response.status_code == 202, response.text
                ids.append(response.json()["data"]["notification_id"])
            for nid in ids:
                for _ in range(300):
                    found = (await client.get(f"/api/v1/notifications/{nid}")).json()["data"]
                    if found["status"] == "delivered":
                        break
                    await asyncio.sleep(0.1)
                assert found["status"] == "delivered", found
            await smtp_server.wait_for(30)
            assert {m["X-Herald-Notification-Id"] for m in smtp_server.received} == set(ids)
            metrics = await httpx.AsyncClient().get(f"{distributed.url('email_worker')}/metrics")
            assert (
                'herald_delivery_attempts_total{channel="email",outcome="delivered"} 30.0'
                in metrics.text
            )
