"""Every service as its own OS process on PostgreSQL (a database each), Redis and
RabbitMQ, and an SMTP server started by the test: send through the gateway, see mail,
see the counters move, and follow one correlation id through two processes' logs."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from herald_client import AsyncHerald

from tests.e2e.processes import Services, notification, on_servers, services
from tests.servers import REDIS, drop_redis_prefix, need, pg_url, postgres_databases, unique
from tests.smtp import SmtpServer

API_KEY = "hk_e2e_" + "k" * 40
SERVICES = ("gateway", "users", "templates", "email_worker", "push_worker")


@pytest_asyncio.fixture
async def distributed(
    amqp_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> AsyncIterator[Services]:
    need("Redis", REDIS)
    base, prefix = unique("herald_e2e"), unique("herald_t")
    async with postgres_databases([f"{base}_{s}" for s in SERVICES]):
        values = on_servers(
            database_url=pg_url(base + "_{service}"),
            amqp_url=amqp_url,
            key_prefix=prefix,
            smtp_url=smtp_server.url,
            api_key=API_KEY,
            HERALD_LOG_JSON="true",
        )
        async with services(values, tmp_path) as running:
            yield running
        await drop_redis_prefix(prefix)


def events(log: Path, event: str, request_id: str) -> list[dict[str, str]]:
    found = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == event and entry.get("request_id") == request_id:
                found.append(entry)
    return found


class TestDistributed:
    async def test_notifications_flow_through_separate_processes(
        self, distributed: Services, smtp_server: SmtpServer
    ) -> None:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(
            base_url=distributed.url("gateway"), headers=auth, timeout=10
        ) as client:
            for name in SERVICES:
                ready = await client.get(f"{distributed.url(name)}/ready")
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
                body = notification(
                    user["id"],
                    variables={"name": "Ada", "link": f"https://example.com/{n}"},
                    template_code="password_reset" if n % 2 else "welcome",
                )
                response = await client.post(
                    "/api/v1/notifications/", json=body, headers={"X-Request-ID": f"trace-{n}"}
                )
                assert response.status_code == 202, response.text
                assert response.headers["x-request-id"] == f"trace-{n}"
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

            # The counters moved by exactly the thirty notifications, in both processes.
            worker = (await client.get(f"{distributed.url('email_worker')}/metrics")).text
            assert (
                'herald_delivery_attempts_total{channel="email",outcome="delivered"} 30.0' in worker
            )
            assert 'herald_queue_wait_seconds_count{queue="email.queue"} 30.0' in worker
            gateway = (await client.get("/metrics")).text
            assert 'herald_notifications_total{channel="email",status="accepted"} 30.0' in gateway
            assert 'herald_notifications_total{channel="email",status="delivered"} 30.0' in gateway
            await asyncio.sleep(5.5)  # the gauges refresh every 5 s
            gateway = (await client.get("/metrics")).text
            assert 'herald_queue_depth{queue="email.queue"} 0.0' in gateway
            assert "herald_outbox_backlog 0.0" in gateway

        # One correlation id, followed through the logs of two processes.
        gateway_log = distributed["gateway"].log
        worker_log = distributed["email_worker"].log
        lifecycle = [
            *events(gateway_log, "notifications.accepted", "trace-7"),
            *events(gateway_log, "notifications.queued", "trace-7"),
            *events(worker_log, "delivery.delivered", "trace-7"),
            *events(gateway_log, "notifications.status_changed", "trace-7"),
        ]
        assert [e["event"] for e in lifecycle] == [
            "notifications.accepted",
            "notifications.queued",
            "delivery.delivered",
            "notifications.status_changed",
        ]
        assert {e["notification_id"] for e in lifecycle} == {ids[7]}
        assert lifecycle[-1]["status"] == "delivered"

        # herald-client, as a developer would use it, against the separate processes.
        async with AsyncHerald(distributed.url("gateway"), API_KEY) as herald:
            user_id = uuid.UUID(user["id"])
            accepted = await herald.notifications.send(
                notification_type="email",
                user_id=user_id,
                template_code="welcome",
                variables={"name": "Ada", "link": "https://example.com"},
            )
            for _ in range(300):
                sent = await herald.notifications.get(accepted.notification_id)
                if sent.status == "delivered":
                    break
                await asyncio.sleep(0.1)
            assert sent.status == "delivered"
            assert (await herald.users.get(user_id)).email == "ada@example.com"
            page = await herald.notifications.list(user_id=user_id, limit=5)
            assert page.meta.total == 31 and len(page.items) == 5
