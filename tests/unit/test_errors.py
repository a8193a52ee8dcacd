"""Every failure becomes the envelope with a real status code, including the errors of
the asyncpg connection the hot path's statements run on directly (which its adapter
turns into the ports' own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from herald.adapters.db import gateway_postgres
from herald.kit import errors
from herald.ports import RowRefused, StoreUnavailable


async def test_the_ports_database_errors_are_a_quick_503_or_a_422() -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/lost")
    async def lost() -> None:
        raise StoreUnavailable("connection was closed")

    @app.get("/refused")
    async def refused() -> None:
        raise RowRefused("value out of range")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as client:
        response = await client.get("/lost")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.json()["success"] is False
        assert (await client.get("/refused")).status_code == 422


class _Driver:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def fetch(self, *_: Any) -> list[Any]:
        raise self.error


class _Engine:
    @asynccontextmanager
    async def connect(self) -> AsyncIterator[object]:
        yield object()


@pytest.mark.parametrize(
    ("error", "becomes"),
    [
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), StoreUnavailable),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), StoreUnavailable),
        (asyncpg.exceptions.NumericValueOutOfRangeError("out of range"), RowRefused),
    ],
)
async def test_the_postgres_adapter_speaks_in_the_ports_errors(
    monkeypatch: pytest.MonkeyPatch, error: Exception, becomes: type[Exception]
) -> None:
    @asynccontextmanager
    async def driver(_: object) -> AsyncIterator[_Driver]:
        yield _Driver(error)

    monkeypatch.setattr(gateway_postgres, "single_statements", driver)
    store = gateway_postgres.PostgresGatewayStore(_Engine())  # type: ignore[arg-type]
    with pytest.raises(becomes):
        await store.admit([])
