"""What Web Push and FCM answers mean, said once for both (RFC 8030 §5, FCM HTTP v1)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from herald.domain import targets
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


async def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse endpoints that are, or resolve to, private addresses (SSRF)."""
    why = targets.check_endpoint(url, allow_private=allow_private)
    if why is not None:
        raise DeliveryError(why, permanent=True)
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
        return  # a literal address was already checked
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DeliveryError(f"cannot resolve {host}: {exc}", permanent=False)
    for info in infos:
        if targets.is_private_address(str(info[4][0])):
            raise DeliveryError(f"{host} resolves to a private address", permanent=True)
