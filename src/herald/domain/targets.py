"""Which push endpoints and webhook URLs Herald may call: refusing private and
loopback addresses keeps a registered "subscription" or webhook from turning Herald
into a proxy into its own network (server-side request forgery)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_private_address(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in {"localhost", "localhost.localdomain"} or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not ip.is_global


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in {"localhost"} or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, *, allow_private: bool) -> str | None:
    """Return why ``url`` may not be used as a push endpoint, or None when it may."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return "endpoint must be an absolute URL"
    # A VAPID token's audience is the endpoint's origin as "scheme://host[:port]"
    # (RFC 8292 §2), which Herald's signer takes only for a name or an IPv4 address:
    # a push to an IPv6 literal or with credentials in the URL could never be signed.
    if "@" in parts.netloc:
        return "endpoint may not carry credentials"
    if ":" in host:
        return "endpoint must name its host or an IPv4 address, not an IPv6 literal"
    if parts.scheme == "http":
        if not (allow_private and is_loopback(host)):
            return "endpoint must use https"
    elif parts.scheme != "https":
        return "endpoint must use https"
    if not allow_private and is_private_address(host):
        return "endpoint may not point at a private or loopback address"
    return None


def check_webhook(
    url: str, *, allow_private: bool, allowed_hosts: frozenset[str] = frozenset()
) -> str | None:
    """Return why ``url`` may not be used as a webhook URL, or None when it may: the
    push rules without the Web Push signer's limits, and plain ``http`` only where
    private addresses are allowed (a receiver on the operator's own network).
    ``allowed_hosts``, when not empty, are the only hosts webhooks may go to."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return "webhook URL must be an absolute URL"
    if "@" in parts.netloc:
        return "webhook URL may not carry credentials"
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not allow_private):
        return "webhook URL must use https"
    if not allow_private and is_private_address(host):
        return "webhook URL may not point at a private or loopback address"
    if allowed_hosts and host.strip("[]").lower() not in allowed_hosts:
        return f"webhook URL's host {host} is not one HERALD_WEBHOOK_ALLOWED_HOSTS names"
    return None
