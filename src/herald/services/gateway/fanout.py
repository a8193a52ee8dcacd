"""A topic send's fan-out: one child notification per subscriber, made off the request
path a page of subscribers at a time.

Each page is one transaction: the parent locked (so replicas take different sends),
the next page of subscribers read after the last one reached, their children stored,
and the parent's cursor and counts moved on. A crash anywhere rolls the page back and
the next run redoes it, so every subscriber gets exactly one child; a child's
request_id (parent id and user id) makes that hold even if two runs ever overlapped.
Memory holds one page, whatever the audience.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from herald.domain.clock import Clock, utcnow
from herald.domain.statuses import Status
from herald.kit.aio import Background, keep_stepping, within
from herald.kit.metrics import NOTIFICATIONS
from herald.services.gateway.admission import Admission, Send, admission
from herald.services.gateway.clients import Directory
from herald.services.gateway.models import Notification, NotificationEvent
from herald.services.gateway.relay import OutboxRelay
from herald.services.gateway.routing import route_subscriber
from herald.services.gateway.store import GatewayStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Progress:
    """What one page did."""

    parent_id: uuid.UUID
    made: int
    queued: bool
    done: bool
    scheduled: bool = False


def advance(
    parent: Notification,
    batch: list[Admission],
    inserted: set[uuid.UUID],
    last: uuid.UUID | None,
    done: bool,
) -> tuple[Progress, NotificationEvent | None]:
    """Move the parent past a page whose children ``inserted`` names; at the last page
    it is delivered (its total then counts the children made, whoever left meanwhile)."""
    made = [a for a in batch if a.notification.id in inserted]
    counts = dict(parent.fanout or {"total": 0, "accepted": 0, "skipped": 0})
    skipped = sum(1 for a in made if a.notification.status == Status.SKIPPED)
    counts["accepted"] += len(made) - skipped
    counts["skipped"] += skipped
    if last is not None:
        parent.fanout_cursor = last
    event = None
    now = utcnow()
    if done:
        counts["total"] = counts["accepted"] + counts["skipped"]
        parent.status = Status.DELIVERED.value
        event = NotificationEvent(
            notification_id=parent.id, status=parent.status, attempt=0, error=None, timestamp=now
        )
        NOTIFICATIONS.labels(parent.channel, Status.DELIVERED.value).inc()
    parent.fanout = counts  # a new dict: the JSON column sees the change
    parent.updated_at = now
    queued = any(a.outbox is not None for a in made)
    scheduled = any(a.schedule is not None or a.digest is not None for a in made)
    return Progress(parent.id, len(made), queued, done, scheduled), event


class Fanout:
    PAGE_SIZE = 1000

    def __init__(
        self,
        store: GatewayStore,
        directory: Directory,
        relay: OutboxRelay,
        *,
        clock: Clock,
        on_scheduled: Callable[[], None] = lambda: None,
        page_size: int = PAGE_SIZE,
        idle_seconds: float = 1.0,
    ) -> None:
        self._clock = clock
        self._on_scheduled = on_scheduled
        self._store = store
        self._directory = directory
        self._relay = relay
        self._page = page_size
        self._idle = idle_seconds
        self._wake = asyncio.Event()
        self._loop = Background()

    async def audience(self, topic: str) -> int | None:
        """How many follow ``topic``, or None when there is no such topic."""
        return await self._store.audience(topic)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._loop.start(self._run())

    async def stop(self) -> None:
        await self._loop.stop()

    async def step(self) -> Progress | None:
        """Make one page of children for the oldest send still fanning out."""
        progress = await self._store.fan_out(self._page, self._children)
        if progress is None:
            return None
        if progress.queued:
            if not progress.done:
                self._relay.give_way()
            self._relay.wake()
        if progress.scheduled:
            self._on_scheduled()
        if progress.done:
            log.info("notifications.fanout.done", notification_id=str(progress.parent_id))
        return progress

    async def _children(self, parent: Notification, user_ids: list[uuid.UUID]) -> list[Admission]:
        if not user_ids:
            return []
        contacts = await self._directory.contacts(user_ids)
        heads = await self._directory.heads(parent.template_code, parent.channel)
        return [
            admission(
                api_key_id=parent.api_key_id,
                send=Send(
                    # One per parent and subscriber: a page stored twice stores nothing.
                    request_id=f"{parent.id}:{user_id}",
                    channel=parent.channel,
                    template_code=parent.template_code,
                    variables=parent.variables,
                    priority=parent.priority,
                    metadata=parent.extra,
                    user_id=user_id,
                    parent_id=parent.id,
                    digest=(parent.fanout or {}).get("digest"),
                    recipient_key=str(user_id),
                ),
                request_hash=parent.request_hash,
                plan=route_subscriber(contacts.get(user_id), heads, parent.channel),
                correlation_id=parent.correlation_id,
                clock=self._clock,
            )
            for user_id in user_ids
        ]

    async def _run(self) -> None:
        async def step() -> bool:
            self._wake.clear()
            return await self.step() is not None

        # A failed page rolled back, and is made again once the users service and
        # the database answer.
        await keep_stepping(
            step,
            lambda: within(self._idle, self._wake.wait()),
            failed="notifications.fanout.failed",
        )
