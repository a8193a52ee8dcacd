"""The overview's numbers: notifications by status and channel over the last hour and
day, how many were accepted in each slice of that time, the queues' depths, dead
letters, and the breakers the workers report open (queue depths: ``gauges.depths``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.domain.statuses import Channel, Status
from herald.services.gateway.models import Notification


@dataclass(frozen=True, slots=True)
class Window:
    label: str
    span: timedelta
    buckets: int
    # Where the chart starts, in words.
    start: str


WINDOWS = (
    Window("last hour", timedelta(hours=1), 12, "an hour ago"),
    Window("last day", timedelta(days=1), 24, "a day ago"),
)


async def by_status(session: AsyncSession, since: datetime) -> dict[str, dict[str, int]]:
    """{channel: {status: count}} of the notifications accepted since ``since``."""
    rows = await session.execute(
        select(Notification.channel, Notification.status, func.count())
        .where(Notification.created_at >= since)
        .group_by(Notification.channel, Notification.status)
    )
    table = {c.value: {s.value: 0 for s in Status} for c in Channel}
    for channel, status, n in rows.all():
        table.setdefault(channel, {s.value: 0 for s in Status})[status] = int(n)
    return table


async def accepted(session: AsyncSession, now: datetime, window: Window) -> list[int]:
    """How many were accepted in each of the window's slices, oldest first: one query,
    a sum per slice, the same on PostgreSQL and SQLite."""
    step = window.span / window.buckets
    start = now - window.span
    edges = [start + step * i for i in range(window.buckets + 1)]
    sums = [
        func.sum(
            case(
                (
                    (Notification.created_at >= edges[i])
                    & (Notification.created_at < edges[i + 1]),
                    1,
                ),
                else_=0,
            )
        )
        for i in range(window.buckets)
    ]
    row = (await session.execute(select(*sums).where(Notification.created_at >= start))).one()
    return [int(n or 0) for n in row]


def bars(counts: list[int], *, width: int = 240, height: int = 48) -> list[dict[str, Any]]:
    """The bars of a small chart, as SVG rectangles sized to the largest count."""
    top = max(counts) or 1
    slot = width / len(counts)
    return [
        {
            "x": round(i * slot + 1, 1),
            "w": round(slot - 2, 1),
            "h": round(height * n / top, 1) if n else 0,
            "y": round(height - (height * n / top if n else 0), 1),
            "n": n,
        }
        for i, n in enumerate(counts)
    ]
