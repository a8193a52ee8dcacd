"""Rate-limit rules, and the sliding window counter both limiters apply.

A rule reads ``100/minute``, ``10 per second`` or ``1000 per 10 seconds``.

The sliding window counter approximates a window that slides with time from two fixed
windows aligned to the epoch: the requests counted in the previous window weigh by the
part of it that still overlaps the last ``seconds``, plus every request of the current
one. It needs two counters per subject and is never more than one window's worth of
requests off, where a log of every request's time would cost memory per request.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RULE = re.compile(
    r"^\s*(?P<amount>\d+)\s*(?:/|per)\s*(?P<multiple>\d+)?\s*(?P<unit>second|minute|hour|day)s?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Rule:
    """At most ``amount`` requests in any ``seconds``."""

    amount: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rule:
        match = _RULE.match(text)
        if match is None:
            raise ValueError(
                f"rate limit {text!r} is not of the form '100/minute', '10 per second' "
                "or '1000 per 10 seconds' (units: second, minute, hour, day)"
            )
        amount = int(match["amount"])
        seconds = int(match["multiple"] or 1) * _UNITS[match["unit"].lower()]
        if amount < 1 or seconds < 1:
            raise ValueError(f"rate limit {text!r} must allow at least 1 request in 1 second")
        return cls(amount, seconds)

    def window(self, now: float) -> tuple[int, float]:
        """The current window's number and how far into it ``now`` is, in seconds."""
        index = math.floor(now / self.seconds)
        return index, now - index * self.seconds


def wait(rule: Rule, *, previous: int, current: int, elapsed: float) -> float:
    """Seconds until one more request fits, or 0.0 if it fits now.

    ``previous`` and ``current`` are the two windows' counts, ``elapsed`` how far into
    the current window it is. Assumes no other request is counted meanwhile.
    """
    window, amount = rule.seconds, rule.amount
    if previous * (window - elapsed) / window + current + 1 <= amount:
        return 0.0
    if current + 1 <= amount:
        # The current window has room: wait until enough of the previous one has slid out.
        return window - (amount - 1 - current) * window / previous - elapsed
    # The current window is full: it must become the previous one and slide out in turn.
    return 2 * window - elapsed - (amount - 1) * window / current
