"""``herald send``: the terminal's way into the public API, over HTTP like any client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from rich.console import Console


async def _user_for(client: httpx.AsyncClient, email: str, name: str) -> str:
    created = await client.post(
        "/api/v1/users/",
        json={
            "name": name,
            "email": email,
            "password": f"herald-{time.time_ns()}",
            "preferences": {"email": True, "push": True},
        },
    )
    if created.status_code == 201:
        return str(created.json()["data"]["id"])
    if created.status_code != 409:
        raise RuntimeError(created.json().get("error") or created.text)
    page = 1
    while True:
        listed = (await client.get("/api/v1/users/", params={"page": page, "limit": 100})).json()
        for user in listed["data"]:
            if user["email"] == email.lower():
                return str(user["id"])
        if not listed["meta"]["has_next"]:
            raise RuntimeError(f"user {email} exists but could not be found")
        page += 1


async def send_and_follow(
    *,
    api_url: str,
    api_key: str,
    user_id: str | None,
    email: str | None,
    channel: str,
    template: str,
    name: str,
    link: str,
    request_id: str,
    priority: int,
    wait: float,
    console: Console,
) -> int:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=10) as client:
        try:
            if user_id is None:
                assert email is not None
                user_id = await _user_for(client, email, name)
            response = await client.post(
                "/api/v1/notifications/",
                json={
                    "notification_type": channel,
                    "user_id": user_id,
                    "template_code": template,
                    "variables": {"name": name, "link": link, "meta": None},
                    "request_id": request_id,
                    "priority": priority,
                    "metadata": None,
                },
            )
        except (httpx.HTTPError, RuntimeError) as exc:
            console.print(f"[red]could not reach Herald at {api_url}: {exc}[/red]")
            return 2
        body: dict[str, Any] = response.json()
        if response.status_code != 202:
            console.print(f"[red]{response.status_code}: {body.get('error')}[/red]")
            return 1
        data = body["data"]
        console.print(f"accepted {data['notification_id']} ({data['status']})")
        deadline = time.monotonic() + wait
        status = data["status"]
        while status == "pending" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            found = await client.get(f"/api/v1/notifications/{data['notification_id']}")
            status = found.json()["data"]["status"]
        console.print(f"status: {status}")
        return 0 if status in ("delivered", "skipped", "pending") else 1
