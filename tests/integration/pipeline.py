"""Herald with every service in one process on the real servers, for pipeline tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from herald import bootstrap
from herald.config import Settings
from herald.domain.clock import Clock
from tests.integration.helpers import running, serving
from tests.integration.helpers import settings as make_settings
from tests.servers import (
    REDIS,
    drop_redis_prefix,
    need,
    pg_url,
    postgres_databases,
    rabbit_vhost,
    unique,
)

API_KEY = "hk_test_" + "k" * 40


@dataclass
class Stack:
    client: httpx.AsyncClient
    settings: Settings

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}"}

    async def user(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "name": "Ada",
            "email": f"ada-{uuid.uuid4().hex[:8]}@example.com",
            "password": "correct horse",
            "preferences": {"email": True, "push": True},
        }
        body.update(overrides)
        response = await self.client.post("/api/v1/users/", json=body, headers=self.auth)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def notification(self, user_id: str, **overrides: Any) -> dict[str, Any]:
        body = {
            "notification_type": "email",
            "user_id": user_id,
            "template_code": "welcome",
            "variables": {"name": "Ada", "link": "https://example.com/start", "meta": None},
            "request_id": uuid.uuid4().hex,
            "priority": 5,
            "metadata": None,
        }
        body.update(overrides)
        return body

    async def email_template(self, code: str, **fields: str) -> httpx.Response:
        """Save an email template (``locale`` defaults to en) with an admin key."""
        body = {"code": code, "channel": "email", "locale": "en", **fields}
        return await self.client.post("/api/v1/templates/", json=body, headers=self.auth)

    async def send(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/notifications/", json=body, headers={**self.auth, **headers}
        )

    async def status(self, notification_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/notifications/{notification_id}", headers=self.auth
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    async def until(
        self, notification_id: str, status: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await self.status(notification_id)
            if found["status"] == status:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"still {found['status']} after {timeout}s: {found}")
            await asyncio.sleep(0.1)


def on_servers(
    postgres_url: str, redis_url: tuple[str, str], amqp_url: str, **values: Any
) -> dict[str, Any]:
    """Settings for Herald on the test's own database, Redis prefix and vhost."""
    return {
        "database_url": postgres_url,
        "redis_url": redis_url[0],
        "key_prefix": redis_url[1],
        "broker_url": amqp_url,
        **values,
    }


@asynccontextmanager
async def herald_stack(
    clock: Clock | None = None, *, tcp: bool = False, **values: Any
) -> AsyncIterator[Stack]:
    """``tcp``: served by uvicorn on a port, not called in-process."""
    values.setdefault("bootstrap_api_key", API_KEY)
    values.setdefault("retry_base_delay", 0.2)
    values.setdefault("retry_max_delay", 1.0)
    values.setdefault("allow_private_targets", True)
    # A test's clock moves by hand, unseen: the scheduler looks again this often.
    values.setdefault("scheduler_idle_seconds", 0.2)
    s = make_settings(**values)
    await bootstrap.migrate(s)
    app = bootstrap.all_in_one(s, clock=clock)
    async with (serving if tcp else running)(app) as client:
        yield Stack(client, s)


@asynccontextmanager
async def _real_servers() -> AsyncIterator[dict[str, Any]]:
    need("Redis", REDIS)
    name, prefix = unique("herald_t"), unique("herald_t")
    async with postgres_databases([name], migrated=True), rabbit_vhost() as amqp:
        try:
            yield on_servers(pg_url(name), (f"redis://{REDIS[0]}:{REDIS[1]}/0", prefix), amqp)
        finally:
            await drop_redis_prefix(prefix)


@asynccontextmanager
async def stack_on(
    kind: str, tmp_path: Path, clock: Clock | None = None, *, tcp: bool = False, **values: Any
) -> AsyncIterator[Stack]:
    """Herald in one process on ``embedded`` adapters (SQLite, the embedded broker, the
    memory cache) or on the real ``servers``, for tests that hold both to one answer.
    ``clock``: what decides when scheduled work is due."""
    async with AsyncExitStack() as exits:
        if kind == "embedded":
            found = {"database_url": f"sqlite+aiosqlite:///{tmp_path}/herald.db", "home": tmp_path}
        else:
            found = await exits.enter_async_context(_real_servers())
        values.setdefault("smtp_url", "smtp://127.0.0.1:1")
        yield await exits.enter_async_context(herald_stack(clock, tcp=tcp, **found, **values))
