"""``herald send`` and ``herald status``: the terminal's way into the public API,
through herald-client like any Python program."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from herald.cli.services import WorkerName
from herald.cli.terminal import console, fail

if TYPE_CHECKING:  # imported where used: every `herald serve` loads this module
    from herald_client import AsyncHerald
    from herald_client.models import NotificationOut

ApiKey = Annotated[
    str, typer.Option(envvar="HERALD_API_KEY", help="An API key (hk_…), or HERALD_API_KEY")
]
ApiUrl = Annotated[str, typer.Option(envvar="HERALD_API_URL")]
FINAL = ("delivered", "failed", "skipped", "cancelled")
T = TypeVar("T")


class Refused(Exception):
    """Herald answered, and said no."""


def _client(api_url: str, api_key: str) -> AsyncHerald:
    from herald_client import AsyncHerald

    if not api_key.isascii() or "…" in api_key:
        fail("the API key holds characters no key has: paste the key herald dev printed")
    # Few retries, close together: a person is waiting at the terminal.
    return AsyncHerald(api_url, api_key, timeout=10, retries=2, backoff=0.2)


def _talk(conversation: Coroutine[Any, Any, T], api_url: str) -> T:
    """Run a conversation with Herald; what went wrong, in one line."""
    from herald_client import HeraldError, Unauthorized, Unreachable

    try:
        return asyncio.run(conversation)
    except Refused as exc:
        fail(str(exc))
    except Unreachable as exc:
        fail(f"cannot reach Herald at {api_url} ({exc.error})", 2)
    except Unauthorized as exc:
        fail(f"401: the API key was refused ({exc.error})")
    except HeraldError as exc:
        fail(str(exc))


async def _user_for(herald: AsyncHerald, email: str, name: str) -> str:
    from herald_client import Conflict

    try:
        created = await herald.users.create(
            name=name,
            email=email,
            password=f"herald-{time.time_ns()}",
            preferences={"email": True, "push": True},
        )
        return str(created.id)
    except Conflict:
        async for user in herald.users.every():
            if user.email == email.lower():
                return str(user.id)
    raise Refused(f"user {email} exists but could not be found")


async def _send(herald: AsyncHerald, body: dict[str, Any], wait: float) -> str:
    accepted = await herald.notifications.send(**body)
    console.print(f"accepted {accepted.notification_id} ({accepted.status})")
    deadline = time.monotonic() + wait
    status = str(accepted.status)
    while status not in FINAL and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        status = (await herald.notifications.get(accepted.notification_id)).status
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
        async with _client(api_url, api_key) as herald:
            recipient = user_id or await _user_for(herald, str(email), name)
            body = {
                "notification_type": channel.value,
                "user_id": recipient,
                "template_code": template,
                "variables": {"name": name, "link": link, "meta": None},
                "request_id": request_id,  # the client makes one when None
                "priority": priority,
            }
            return await _send(herald, body, wait)

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

    async def run() -> NotificationOut:
        async with _client(api_url, api_key) as herald:
            return await herald.notifications.get(notification_id)

    found = _talk(run(), api_url)
    console.print(
        f"{found.notification_id}  {found.notification_type}  "
        f"{found.status}  attempts={found.attempts}"
    )
    for entry in found.history or []:
        error = f"  {entry.error}" if entry.error else ""
        console.print(f"  {entry.timestamp.isoformat()}  {entry.status}{error}", markup=False)
