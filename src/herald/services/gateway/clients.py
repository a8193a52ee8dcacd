"""The gateway's view of the users and templates services: HTTP, read through a cache.

In ``herald dev`` the same clients reach the services in-process (an ASGI transport);
in the distributed setup they go over the network. Either way a warm cache answers
without calling the service at all.
"""

from __future__ import annotations

import json
from typing import Any

from herald.domain import cachekeys
from herald.kit.clients import ServiceClient
from herald.ports import Cache


class Directory:
    """Users and templates as the gateway needs them on the hot path."""

    def __init__(
        self, users: ServiceClient, templates: ServiceClient, cache: Cache, ttl: float
    ) -> None:
        self.users = users
        self.templates = templates
        self.cache = cache
        self.ttl = ttl

    async def _cached(
        self, key: str, client: ServiceClient, path: str, **params: str
    ) -> dict[str, Any] | None:
        hit = await self.cache.get(key)
        if hit is not None:
            value: dict[str, Any] | None = json.loads(hit)
            return value
        value = await client.get_json(path, **params)
        if value is not None:
            await self.cache.set(key, json.dumps(value).encode(), ttl=self.ttl)
        return value

    async def contact(self, user_id: str) -> dict[str, Any] | None:
        return await self._cached(
            cachekeys.user_contact(user_id), self.users, f"/internal/users/{user_id}/contact"
        )

    async def template_heads(self, code: str, channel: str) -> dict[str, Any] | None:
        return await self._cached(
            cachekeys.template_head(code, channel),
            self.templates,
            f"/internal/templates/{code}/heads",
            channel=channel,
        )
