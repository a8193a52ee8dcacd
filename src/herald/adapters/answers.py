"""What a provider's HTTP answer means for a delivery, said once for every provider
(push services, SMS providers, chat webhooks): 429 and 5xx are worth another try after
``Retry-After``, a network failure too."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx

from herald.domain.clock import utcnow
from herald.domain.errors import DeliveryError


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max((parsedate_to_datetime(value) - utcnow()).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def transient(response: httpx.Response, service: str) -> DeliveryError | None:
    """429 and 5xx are worth another try, after ``Retry-After`` when given."""
    if response.status_code == 429 or response.status_code >= 500:
        return DeliveryError(
            f"{service} answered {response.status_code}",
            permanent=False,
            retry_after=retry_after(response),
        )
    return None


def network_error(exc: httpx.HTTPError, service: str) -> DeliveryError:
    return DeliveryError(f"{service} unreachable: {exc!r}", permanent=False)
