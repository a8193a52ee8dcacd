"""In-app feeds across processes, as they run in production: ``herald worker in_app``
stores the item, and the stream a browser holds open on another gateway replica shows
it, told through Redis; that replica stops promptly with the stream open, and the
client resumes on the first replica from its Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from herald_client import sse

from tests.e2e.processes import create_user, own_stack

API_KEY = "hk_e2e_feeds_" + "k" * 40


async def _item(events: AsyncIterator[sse.Event]) -> tuple[Any, str | None]:
    async with asyncio.timeout(15):
        async for found in events:
            if found.event == "item":
                return json.loads(found.data), found.id
    raise AssertionError("the stream ended without an item")


async def test_a_stream_on_one_replica_shows_what_another_process_stored(
    amqp_url: str, tmp_path: Path
) -> None:
    names = ("users", "templates", "gateway", "gateway_2", "in_app_worker")
    async with own_stack(amqp_url, tmp_path, names, api_key=API_KEY) as (running, _):
        auth = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=running.url("gateway"), headers=auth) as api:
            user = await create_user(api)
            made = await api.post(f"/api/v1/users/{user['id']}/feed/token")
            page = {"Authorization": f"Bearer {made.json()['data']['token']}"}

            async def send(name: str) -> str:
                sent = await api.post(
                    "/api/v1/notifications/",
                    json={
                        "notification_type": "in_app",
                        "user_id": user["id"],
                        "template_code": "welcome",
                        "variables": {"name": name, "link": "https://example.com"},
                        "request_id": f"feed-{name}",
                    },
                )
                assert sent.status_code == 202, sent.text
                return str(sent.json()["data"]["notification_id"])

            path = f"/api/v1/users/{user['id']}/feed/stream"
            timeout = httpx.Timeout(30.0)
            async with (
                httpx.AsyncClient(base_url=running.url("gateway_2"), timeout=timeout) as other,
                other.stream("GET", path, headers=page) as stream,
            ):
                assert stream.status_code == 200
                events = sse.events(stream.aiter_lines())
                first = await send("Ada")
                item, seen = await _item(events)
                assert item["id"] == first and item["title"] == "Welcome, Ada!"

                # The replica stops with the stream open: the stream ends, it does not
                # hold the shutdown.
                started = time.monotonic()
                await asyncio.to_thread(running["gateway_2"].stop)
                assert time.monotonic() - started < 8

            second = await send("Grace")
            async with (
                httpx.AsyncClient(base_url=running.url("gateway"), timeout=timeout) as one,
                one.stream("GET", path, headers={**page, "Last-Event-ID": str(seen)}) as again,
            ):
                item, _ = await _item(sse.events(again.aiter_lines()))
                assert item["id"] == second and item["title"] == "Welcome, Grace!"
        async with httpx.AsyncClient() as probe:
            ready = await probe.get(running.url("in_app_worker") + "/ready")
            assert ready.status_code == 200, ready.text
