"""A circuit breaker per delivery target.

Written here rather than taken from a library because the workers need to *ask* the
breaker whether a target is open and for how long, so that a message can wait in a
delay queue without spending an attempt; call-wrapping breakers only raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    reset_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = field(default=False)

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self.opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def wait_seconds(self) -> float:
        """How long a caller should hold off; 0 when a call may go ahead now.

        In half-open state exactly one probe is let through at a time.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return 0.0
        if state is BreakerState.HALF_OPEN and not self.probing:
            self.probing = True
            return 0.0
        assert self.opened_at is not None
        remaining = self.reset_seconds - (self.clock() - self.opened_at)
        return max(remaining, 1.0)

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
        self.probing = False


@dataclass
class BreakerBoard:
    """One breaker per target (an SMTP relay, a push service host)."""

    failure_threshold: int = 5
    reset_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def for_target(self, target: str) -> CircuitBreaker:
        breaker = self.breakers.get(target)
        if breaker is None:
            breaker = CircuitBreaker(self.failure_threshold, self.reset_seconds, self.clock)
            self.breakers[target] = breaker
        return breaker

    def states(self) -> dict[str, BreakerState]:
        return {target: b.state for target, b in self.breakers.items()}
