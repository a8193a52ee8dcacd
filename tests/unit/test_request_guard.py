"""The guard in front of every service: past its limit of requests in progress it
answers 503 at once, in the envelope, and health probes still get through."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from herald.kit.app import RequestGuard


class Gate:
    """An endpoint that holds every request until it is opened."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.waiting = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.waiting += 1
        await self.open.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def test_requests_beyond_the_limit_get_503_and_the_rest_complete() -> None:
    gate = Gate()
    guard = RequestGuard(gate, service="gateway", max_body_bytes=1024, max_in_flight=3)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guard), base_url="http://gateway"
    ) as client:
        held = [asyncio.create_task(client.get("/api/v1/notifications/")) for _ in range(3)]
        while gate.waiting < 3:
            await asyncio.sleep(0.01)
        refused = await client.get("/api/v1/notifications/")
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        body = refused.json()
        assert body["success"] is False and "3 requests in progress" in body["error"]
        probe = asyncio.create_task(client.get("/health"))  # not refused, only queued
        while gate.waiting < 4:
            await asyncio.sleep(0.01)
        gate.open.set()
        assert [r.status_code for r in await asyncio.gather(*held, probe)] == [200] * 4
        assert guard.in_flight == 0
        assert (await client.get("/api/v1/notifications/")).status_code == 200


async def test_oversized_headers_are_refused_before_any_route_reads_them() -> None:
    gate = Gate()
    gate.open.set()
    guard = RequestGuard(gate, service="gateway", max_body_bytes=1024, max_in_flight=3)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guard), base_url="http://gateway"
    ) as client:
        huge = await client.get("/api/v1/", headers={"Authorization": "Bearer " + "a" * 8_000_000})
        assert huge.status_code == 431 and huge.json()["success"] is False
        assert gate.waiting == 0
        assert (await client.get("/api/v1/", headers={"X-Fine": "b" * 8000})).status_code == 200
