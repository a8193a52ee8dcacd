"""Where Web Push may go: never to a private address (SSRF)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from herald.domain import targets
from herald.domain.errors import DeliveryError


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
