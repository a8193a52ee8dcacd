"""Rate limits as the API answers them: one 429 with Retry-After and the RateLimit
headers (draft-ietf-httpapi-ratelimit-headers), whichever service refuses."""

from __future__ import annotations

from herald.domain.errors import HeraldError
from herald.kit.metrics import RATE_LIMITED
from herald.ports import RateDecision


def too_many(scope: str, decision: RateDecision) -> HeraldError:
    RATE_LIMITED.labels(scope).inc()
    retry = max(int(decision.reset_after + 0.999), 1)
    return HeraldError(
        429,
        f"rate limit exceeded for this {scope}: {decision.limit} allowed, retry in {retry}s",
        headers={
            "Retry-After": str(retry),
            "RateLimit-Limit": str(decision.limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": str(retry),
        },
    )
