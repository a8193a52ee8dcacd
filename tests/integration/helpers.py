"""Running services in-process for integration tests, on the real servers."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from herald.config import Settings
from herald.kit import auth

SECRET = "test-secret-" + "x" * 40


def settings(**values: Any) -> Settings:
    values.setdefault("jwt_secret", SECRET)
    return Settings(**values)


def token(
    *,
    scopes: list[str] | None = None,
    subject: str = "apikey:test",
    user_id: str | None = None,
    issuer: str = "gateway",
    secret: str = SECRET,
) -> dict[str, str]:
    """A credential as ``issuer`` signs it: a service, or ``auth.USER`` (a login)."""
    keys = auth.Keys(secret)
    key = keys.user if issuer == auth.USER else keys.services[issuer]
    # Minted when a module is imported, so it must outlive the whole test run.
    value = auth.mint(key, subject=subject, ttl=24 * 3600, scopes=scopes, user_id=user_id)
    return {"Authorization": f"Bearer {value}"}


# What the gateway forwards for an admin API key, and its own service calls.
ADMIN = token(scopes=["admin"])
SERVICE = token(scopes=["send"], subject="service:gateway")


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``app``'s lifespan and give a client that talks to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald") as client:
            yield client


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` behind uvicorn on a port of its own, and a client that talks to it over
    TCP: for what an in-process client cannot show (an event stream, read as sent)."""
    import asyncio

    import uvicorn

    from herald.kit.app import drain
    from tests.smtp import free_port

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        drain(app)
        server.should_exit = True
        await task


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_subscription(endpoint: str) -> tuple[dict[str, Any], ec.EllipticCurvePrivateKey, bytes]:
    """A Web Push subscription as a browser makes one, with its private key and auth."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    secret = b"0123456789abcdef"
    return (
        {"endpoint": endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(secret)}},
        key,
        secret,
    )
