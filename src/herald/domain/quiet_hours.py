"""Quiet hours: a daily window of a user's local time in which nothing but urgent
notifications is delivered. Wall-clock times in the user's IANA zone, so the window
keeps its local hours across daylight-saving changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

# At this priority and above a notification is urgent: quiet hours do not hold it.
URGENT = 8

HH_MM = r"^([01]\d|2[0-3]):[0-5]\d$"
_HH_MM = re.compile(HH_MM)


def parse_time(value: str) -> time:
    if not _HH_MM.match(value):
        raise ValueError(f"'{value}' is not a time of day as HH:MM (00:00 to 23:59)")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class QuietHours:
    """From ``start`` (included) to ``end`` (excluded), local time; a window whose end
    is earlier than its start spans midnight (22:00 to 07:00)."""

    start: time
    end: time

    @classmethod
    def of(cls, value: dict[str, str] | None) -> QuietHours | None:
        if not value:
            return None
        return cls(parse_time(value["start"]), parse_time(value["end"]))

    def covers(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def held_until(self, at: datetime, zone: str) -> datetime | None:
        """When a notification due ``at`` may be delivered, if quiet hours hold it:
        the window's next end, in UTC; None when ``at`` is outside the window."""
        tz = ZoneInfo(zone)
        local = at.astimezone(tz)
        if not self.covers(local.time().replace(tzinfo=None)):
            return None
        day = local.date()
        if local.time().replace(tzinfo=None) >= self.end:
            day += timedelta(days=1)  # past today's end: the window closes tomorrow
        # A wall-clock time the spring change skips (02:30 when clocks jump 2:00 to
        # 3:00) resolves past the gap; one the autumn change repeats, to its first.
        end = datetime.combine(day, self.end, tzinfo=tz).astimezone(UTC)
        if end <= at:  # inside the repeated hour, past the end's first occurrence
            end = datetime.combine(day, self.end, tzinfo=tz).replace(fold=1).astimezone(UTC)
        return end if end > at else None


def held_until(
    at: datetime, *, quiet_hours: dict[str, str] | None, zone: str, priority: int
) -> datetime | None:
    """When quiet hours let a notification of ``priority`` due ``at`` go, if they hold
    it; None when they do not."""
    window = QuietHours.of(quiet_hours)
    if window is None or priority >= URGENT:
        return None
    return window.held_until(at, zone)
