"""How long a failed delivery waits before its next attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 900.0

    def exhausted(self, attempts_made: int) -> bool:
        return attempts_made >= self.max_attempts

    def delay(self, attempts_made: int, *, retry_after: float | None = None) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random.

        Half of the wait is kept fixed so that retries never collapse to zero, the other
        half is random so that a burst of failures does not retry in lockstep
        (AWS Architecture Blog, "Exponential Backoff And Jitter"). A server's
        ``Retry-After`` is a floor, never shortened.
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempts_made - 1, 0))
        wait = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return float(wait)
