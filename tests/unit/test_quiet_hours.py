"""Quiet hours in a user's own time zone, on ordinary days and on the two days a year
its clocks change (Europe/Paris: 2026-03-29 02:00 becomes 03:00; 2026-10-25 03:00
becomes 02:00)."""

from __future__ import annotations

from datetime import datetime

import pytest

from herald.domain.quiet_hours import held_until

NIGHT = {"start": "22:00", "end": "07:00"}
PARIS = "Europe/Paris"


def utc(value: str) -> datetime:
    return datetime.fromisoformat(value + "+00:00")


@pytest.mark.parametrize(
    ("at", "until"),
    [
        # 23:30 local (CEST), before midnight: to 07:00 the next morning.
        ("2026-06-01T21:30:00", "2026-06-02T05:00:00"),
        # 03:00 local, after midnight: to 07:00 the same morning.
        ("2026-06-02T01:00:00", "2026-06-02T05:00:00"),
        # The spring night: 00:30 CET, and the window ends at 07:00 CEST (05:00 UTC),
        # an hour shorter than a usual night.
        ("2026-03-28T23:30:00", "2026-03-29T05:00:00"),
        # The autumn night: 00:30 CEST, and the window ends at 07:00 CET (06:00 UTC).
        ("2026-10-24T22:30:00", "2026-10-25T06:00:00"),
        # Inside the hour the autumn change repeats (02:30 CET, the second time).
        ("2026-10-25T01:30:00", "2026-10-25T06:00:00"),
    ],
)
def test_a_night_window_holds_until_its_local_end(at: str, until: str) -> None:
    assert held_until(utc(at), quiet_hours=NIGHT, zone=PARIS, priority=5) == utc(until)


@pytest.mark.parametrize(
    "at",
    [
        "2026-06-01T05:00:00",  # 07:00 local: the end itself is outside
        "2026-06-01T19:59:00",  # 21:59 local
        "2026-03-29T06:00:00",  # 08:00 CEST on the spring day
        "2026-10-25T06:00:00",  # 07:00 CET on the autumn day
    ],
)
def test_outside_the_window_nothing_waits(at: str) -> None:
    assert held_until(utc(at), quiet_hours=NIGHT, zone=PARIS, priority=5) is None


def test_an_end_the_spring_change_skips_resolves_past_the_gap() -> None:
    # 01:00 to 02:30 local; on 2026-03-29 there is no 02:30: the window ends at 03:30
    # CEST, the first moment after the gap (01:30 UTC).
    window = {"start": "01:00", "end": "02:30"}
    got = held_until(utc("2026-03-29T00:10:00"), quiet_hours=window, zone=PARIS, priority=5)
    assert got == utc("2026-03-29T01:30:00")


def test_an_end_the_autumn_change_repeats_is_its_first_occurrence() -> None:
    window = {"start": "01:00", "end": "02:30"}
    got = held_until(utc("2026-10-24T23:10:00"), quiet_hours=window, zone=PARIS, priority=5)
    assert got == utc("2026-10-25T00:30:00")  # 02:30 CEST


def test_a_day_window_that_does_not_span_midnight() -> None:
    window = {"start": "12:00", "end": "14:00"}
    assert held_until(
        utc("2026-06-01T10:30:00"), quiet_hours=window, zone=PARIS, priority=5
    ) == utc("2026-06-01T12:00:00")
    assert (
        held_until(utc("2026-06-01T12:00:00"), quiet_hours=window, zone=PARIS, priority=5) is None
    )


@pytest.mark.parametrize(("priority", "held"), [(7, True), (8, False), (9, False)])
def test_urgent_notifications_pass_through(priority: int, held: bool) -> None:
    got = held_until(utc("2026-06-01T23:00:00"), quiet_hours=NIGHT, zone=PARIS, priority=priority)
    assert (got is not None) is held


def test_no_quiet_hours_hold_nothing() -> None:
    assert held_until(utc("2026-06-01T23:00:00"), quiet_hours=None, zone=PARIS, priority=0) is None
