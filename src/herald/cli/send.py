"""``herald send`` and ``herald status``: the terminal's way into the public API, over
HTTP like any client."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import httpx
import typer

from herald.cli.services import WorkerName
from herald.cli.terminal import console, fail

ApiKey = Annotated[
    str, typer.Option(envvar="HERALD_API_KEY", help="An API key (hk_…), or HERALD_API_KEY")
]
ApiUrl = Annotated[str, typer.Option(envvar="HERALD_API_URL")]
FINAL = ("delivered", "failed", "skipped", "cancelled")
T = TypeVar("T")


class Refused(Exception):
    """Herald answered, and said no."""


def _client(api_url: str, api_key: str) -> httpx.AsyncClient:
    if not api_key.isascii() or "…" in api_key:
        fail("the API key holds characters no key has: paste the key herald dev printed")
    return httpx.AsyncClient(
        base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10
    )


def _talk(conversation: Coroutine[Any, Any, T], api_url: str) -> T:
    """Run a conversation with Herald; what went wrong, in one line."""
    try:
        return asyncio.run(conversation)
    except Refused as exc:
        fail(str(exc))
    except httpx.TransportError as exc:
        fail(f"cannot reach Herald at {api_url} ({exc or type(exc).__name__})", 2)


def _data(response: httpx.Response, *expected: int) -> Any:
    try:
        body = response.json()
    except ValueError:
        raise Refused(f"{response.status_code} from something that is not Herald")
    if response.status_code not in expected:
        error = body.get("error") if isinstance(body, dict) else None
        if response.status_code == 401:
            error = f"the API key was refused ({error})"
        raise Refused(f"{response.status_code}: {error or response.reason_phrase}")
    return body["data"]


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
    if created.status_code != 409:
        return str(_data(created, 201)["id"])
    page = 1
    while True:
        listed = await client.get("/api/v1/users/", params={"page": page, "limit": 100})
        for user in _data(listed, 200):
            if user["email"] == email.lower():
                return str(user["id"])
        if not listed.json()["meta"]["has_next"]:
            raise Refused(f"user {email} exists but could not be found")
        page += 1


async def _send(client: httpx.AsyncClient, body: dict[str, Any], wait: float) -> str:
    data = _data(await client.post("/api/v1/notifications/", json=body), 202)
    console.print(f"accepted {data['notification_id']} ({data['status']})")
    deadline = time.monotonic() + wait
    status = str(data["status"])
    while status not in FINAL and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        found = await client.get(f"/api/v1/notifications/{data['notification_id']}")
        status = str(_data(found, 200)["status"])
    return status


def send(
    api_key: ApiKey,
    user_id: Annotated[str | None, typer.Option(help="An existing user's id")] = None,
    email: Annotated[
        str | None, typer.Option(help="Create (or reuse) a user with this email")
    ] = None,
    channel: Annotated[WorkerName, typer.Option()] = WorkerName.email,
    template: Annotated[str, typer.Option()] = "welcome",
    name: Annotated[str, typer.Option()] = "friend",
    link: Annotated[str, typer.Option()] = "https://example.com/start",
    request_id: Annotated[str | None, typer.Option()] = None,
    priority: Annotated[int, typer.Option(min=0, max=9)] = 5,
    api_url: ApiUrl = "http://127.0.0.1:8000",
    wait: Annotated[float, typer.Option(help="Seconds to wait for a final status")] = 10.0,
) -> None:
    """Send a notification through a running Herald and follow it to its final status.
    Exits 0 when it was delivered or skipped, 1 when it failed or is still pending."""
    if user_id is None and email is None:
        raise typer.BadParameter("give --user-id, or --email to create a user for it")

    async def run() -> str:
        async with _client(api_url, api_key) as client:
            recipient = user_id or await _user_for(client, str(email), name)
            body = {
                "notification_type": channel.value,
                "user_id": recipient,
                "template_code": template,
                "variables": {"name": name, "link": link, "meta": None},
                "request_id": request_id or uuid.uuid4().hex,
                "priority": priority,
                "metadata": None,
            }
            return await _send(client, body, wait)

    status = _talk(run(), api_url)
    console.print(f"status: {status}")
    if status == "pending":
        fail(f"still pending after {wait:g} s: follow it with `herald status`")
    if status == "failed":
        raise typer.Exit(1)


def status(
    notification_id: str,
    api_key: ApiKey,
    api_url: ApiUrl = "http://127.0.0.1:8000",
) -> None:
    """Show one notification's lifecycle: every status it went through, oldest first."""

    async def run() -> Any:
        async with _client(api_url, api_key) as client:
            return _data(await client.get(f"/api/v1/notifications/{notification_id}"), 200)

    data = _talk(run(), api_url)
    console.print(
        f"{data['notification_id']}  {data['notification_type']}  "
        f"{data['status']}  attempts={data['attempts']}"
    )
    for entry in data["history"]:
        error = f"  {entry['error']}" if entry.get("error") else ""
        console.print(f"  {entry['timestamp']}  {entry['status']}{error}", markup=False)
