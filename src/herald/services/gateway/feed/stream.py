"""A user's feed as Server-Sent Events: each new item (its ``seq`` the event id, so
that a client that reconnects with Last-Event-ID misses nothing) and the unread count
whenever it changes. A signal only wakes the stream; what it sends is read from the
database, so a signal lost costs at most one heartbeat's delay, never an item."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress

from herald.services.gateway.feed.hub import FeedHub
from herald.services.gateway.feed.store import FeedStore, item_out

# Under most proxies' idle timeouts, and how often a quiet stream looks again.
HEARTBEAT_SECONDS = 15.0
# How long a browser waits before reconnecting (the SSE ``retry`` field).
RETRY_MILLISECONDS = 3000
_PAGE = 100


def event(name: str, data: object, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def events(
    feeds: FeedStore,
    hub: FeedHub,
    user_id: uuid.UUID,
    after: int,
    *,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[str]:
    """``after``: the last ``seq`` the client has; items after it come first."""
    with hub.watch(str(user_id)) as woken:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        unread: int | None = None
        while not hub.draining:
            woken.clear()  # before reading: a change from here on wakes the next read
            items, count = await feeds.since(user_id, after, _PAGE)
            for item in items:
                after = item.seq
                yield event("item", item_out(item), event_id=item.seq)
            if count != unread:
                unread = count
                yield event("unread", {"unread": count})
            if len(items) == _PAGE:
                continue
            with suppress(TimeoutError):
                async with asyncio.timeout(heartbeat):
                    await woken.wait()
                    continue
            yield ": keep-alive\n\n"
