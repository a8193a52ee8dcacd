"""The time, in one place: aware UTC datetimes everywhere.

What decides *when* something happens (a schedule's due time, quiet hours, a digest's
window) reads a ``Clock`` it is given, so that tests run on a clock they move rather
than on sleeps; the moments things are stamped with (created_at, history) read
``utcnow``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
