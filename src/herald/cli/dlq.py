"""``herald dlq``: the dead letter queue (failed.queue), on the configured broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any

import typer

from herald.cli.terminal import console
from herald.config import Settings
from herald.ports import Broker

app = typer.Typer(no_args_is_help=True, help="The dead letter queue (failed.queue).")
Limit = Annotated[int, typer.Option(min=1, max=10_000)]


def _on_broker(work: Callable[[Broker], Awaitable[list[Any]]]) -> list[dict[str, Any]]:
    from herald.bootstrap import open_broker

    async def run() -> list[dict[str, Any]]:
        broker = await open_broker(Settings())
        try:
            return [asdict(letter) for letter in await work(broker)]
        finally:
            await broker.close()

    return asyncio.run(run())


@app.command("list")
def listing(limit: Limit = 100) -> None:
    """Show dead letters (they stay in the queue)."""
    from herald.delivery import dead_letters as dlq

    console.print_json(json.dumps(_on_broker(lambda b: dlq.listing(b, limit=limit))))


@app.command("replay")
def replay(
    notification_id: Annotated[str | None, typer.Option(help="Only this notification")] = None,
    limit: Limit = 100,
) -> None:
    """Send dead letters back to their work queue, with their attempts reset."""
    from herald.delivery import dead_letters as dlq

    replayed = _on_broker(lambda b: dlq.replay(b, limit=limit, notification_id=notification_id))
    console.print_json(json.dumps(replayed))
    console.print(f"replayed {len(replayed)}")


@app.command("purge")
def purge(
    yes: Annotated[bool, typer.Option("--yes", help="Really drop them")] = False,
    limit: Limit = 100,
) -> None:
    """Drop dead letters for good."""
    from herald.delivery import dead_letters as dlq

    if not yes:
        raise typer.BadParameter("purging drops messages for good: add --yes")
    dropped = _on_broker(lambda b: dlq.purge(b, limit=limit))
    console.print(f"purged {len(dropped)}")
