"""Every failure becomes the envelope with a real status code, including the errors of
the asyncpg connection the hot path's statements run on directly."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI

from herald.kit import errors


async def test_a_lost_database_connection_on_the_driver_is_a_quick_503() -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/lost")
    async def lost() -> None:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")

    @app.get("/shutdown")
    async def shutdown() -> None:
        raise asyncpg.exceptions.AdminShutdownError("terminating connection")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as client:
        for path in ("/lost", "/shutdown"):
            response = await client.get(path)
            assert response.status_code == 503, path
            assert response.headers["Retry-After"] == "5"
            assert response.json()["success"] is False
