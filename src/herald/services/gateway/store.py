"""The gateway's storage on its hot path, behind one port: accepted notifications
stored in group commits, the outbox claimed for publishing, status events applied.
PostgreSQL runs each as one fixed statement on the driver; any other database (SQLite
for ``herald dev``) through SQLAlchemy. The composition root picks the adapter."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from herald.services.gateway.admission import Admission
from herald.services.gateway.models import Notification, NotificationEvent

if TYPE_CHECKING:
    from herald.services.gateway.fanout import Progress


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    routing_key: str
    body: bytes
    priority: int
    message_id: str | None
    correlation_id: str | None


# Moves the notifications a batch of status events names (locked, by id) and returns
# those it changed and the history entries to add.
Mover = Callable[
    [Mapping[uuid.UUID, Notification]], tuple[list[Notification], list[NotificationEvent]]
]

# A topic send's children for a page of its subscribers (user ids, in order).
Children = Callable[[Notification, list[uuid.UUID]], Awaitable[list[Admission]]]


@dataclass(frozen=True, slots=True)
class Released:
    """What one round of the scheduler did."""

    claimed: int  # schedules or digests taken (a full round means more may be due)
    queued: int  # messages written to the outbox
    topics: int = 0  # topic sends whose fan-out may start


# A closing digest's message: from its id, its opener's command and its members'
# variables (oldest first).
Compose = Callable[[uuid.UUID, bytes, list[dict[str, Any]]], bytes]


class GatewayStore(Protocol):
    async def admit(self, batch: Sequence[Admission]) -> set[uuid.UUID]:
        """Store the batch in one transaction; return the ids stored (a request_id
        already used is left alone). Raises RowRefused when a row cannot be stored."""

    def claim_outbox(self, limit: int) -> AbstractAsyncContextManager[list[OutboxRow]]:
        """Up to ``limit`` outbox rows, oldest first, none another replica holds; they
        are gone when the block ends, and stay when it raises."""

    async def apply_statuses(self, ids: Sequence[uuid.UUID], move: Mover) -> None:
        """Lock the notifications ``ids`` names, let ``move`` change them, write back
        what changed and its history, in one transaction."""

    async def outbox_backlog(self) -> int: ...

    async def audience(self, topic: str) -> int | None:
        """How many users follow ``topic``; None when there is no such topic."""

    async def release_due(self, now: datetime, limit: int) -> Released:
        """Up to ``limit`` schedules due by ``now``, in one transaction: each still
        scheduled notification made pending, with its history and (unless a topic send)
        its outbox message; schedules another replica holds are passed over."""

    async def close_digests(self, now: datetime, limit: int, compose: Compose) -> Released:
        """Up to ``limit`` digest windows due to close by ``now``, in one transaction:
        their members still scheduled made pending, and one message each composed from
        them. A window with no member left sends nothing."""

    async def next_due(self) -> datetime | None:
        """The earliest due time of a schedule or an open digest window, if any."""

    async def fan_out(self, page_size: int, children: Children) -> Progress | None:
        """One page of the oldest topic send still fanning out, in one transaction:
        lock it (a send another replica holds is passed over), read the next
        ``page_size`` subscribers, store ``children`` for them and move the send on.
        None when no send is fanning out."""
