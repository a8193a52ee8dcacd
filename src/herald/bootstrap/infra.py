"""What one process holds: its settings, signing keys, engines, clients, cache and
broker, opened in its lifespan and never at import."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.adapters.db.engine import create_engine
from herald.bootstrap.adapters import make_broker, make_cache, make_signals
from herald.config import Settings
from herald.kit import auth
from herald.kit.clients import ServiceClient
from herald.ports import Broker, Signals

SERVICES = ("gateway", "users", "templates", "email_worker", "push_worker")
_SERVICES_DIR = Path(__file__).parent.parent / "services"


async def migrate(settings: Settings, services: Sequence[str] = SERVICES) -> None:
    # Imported here: Alembic adds tens of MB to every process, and only `herald migrate`
    # and `herald dev` run migrations.
    from herald.kit import migrations

    for service in services:
        await asyncio.to_thread(
            migrations.upgrade,
            _SERVICES_DIR / service / "migrations",
            settings.database_url_for(service),
            service,
        )


def http_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(5.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
    )


def asgi_client(app: FastAPI, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://{name}",
        timeout=httpx.Timeout(30.0),
    )


class Infra:
    """The connections one process holds, opened in its lifespan, never at import."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = (
            auth.Keys.parse(settings.signing_keys.get_secret_value())
            if settings.signing_keys is not None
            else auth.Keys(settings.jwt_secret.get_secret_value())
        )
        self._broker: Broker | None = None
        self._signals: Signals | None = None
        self.cache = make_cache(settings)
        self._engines: dict[str, AsyncEngine] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._closers: list[Callable[[], Awaitable[None]]] = []

    @property
    def broker(self) -> Broker:
        """Made when a service first asks for it: the users and templates services
        never publish, so their processes hold no broker connection (nor its code)."""
        if self._broker is None:
            self._broker = make_broker(self.settings)
        return self._broker

    @property
    def signals(self) -> Signals:
        """Made when first asked for, like the broker; one per process, so that in
        ``herald dev`` the worker's signals reach the gateway's streams."""
        if self._signals is None:
            self._signals = make_signals(self.settings)
        return self._signals

    def engine(self, service: str) -> AsyncEngine:
        url = self.settings.database_url_for(service)
        if url not in self._engines:
            self._engines[url] = create_engine(
                url, transaction_pooled=self.settings.database_transaction_pooling
            )
        return self._engines[url]

    def client(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        self._clients.append(client)
        return client

    def service(self, http: httpx.AsyncClient, name: str, issuer: str) -> ServiceClient:
        return ServiceClient(self.client(http), name=name, keys=self.keys, issuer=issuer)

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    def database_check(self, service: str) -> Callable[[], Awaitable[bool]]:
        engine = self.engine(service)

        async def check() -> bool:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True

        return check

    async def start(self) -> None:
        if self._broker is not None:
            await self._broker.start()

    async def close(self) -> None:
        # The broker first: no message may arrive once the clients it needs are closed.
        if self._broker is not None:
            await self._broker.close()
        for closer in reversed(self._closers):
            await closer()
        for client in self._clients:
            await client.aclose()
        await self.cache.close()
        if self._signals is not None:
            await self._signals.close()
        for engine in self._engines.values():
            await engine.dispose()
