"""A clock the test moves by hand: what is due fires when the test says the time has
come, not after a sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    def __init__(self, start: datetime | str) -> None:
        self._now = datetime.fromisoformat(start) if isinstance(start, str) else start
        assert self._now.tzinfo is not None, "a clock keeps aware times"
        self._now = self._now.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, at: datetime | str) -> None:
        self._now = (datetime.fromisoformat(at) if isinstance(at, str) else at).astimezone(UTC)
