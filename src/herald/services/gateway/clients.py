"""The gateway's view of the users and templates services: HTTP, read through a cache.

In ``herald dev`` the same clients reach the services in-process (an ASGI transport);
in the distributed setup they go over the network. Either way a warm cache answers
without calling the service at all.
"""

from __future__ import annotations

import json

from herald.domain import cachekeys
from herald.kit.clients import ServiceClient
from herald.ports import Cache
from herald.services.gateway.records import Contact, TemplateHeads


class Directory:
    """Users and templates as the gateway needs them on the hot path."""

    def __init__(
        self, users: ServiceClient, templates: ServiceClient, cache: Cache, ttl: float
    ) -> None:
        self.users = users
        self.templates = templates
        self.cache = cache
        self.ttl = ttl

    async def _fill(
        self, key: str, hit: bytes | None, client: ServiceClient, path: str, **params: str
    ) -> bytes | None:
        """The cached JSON, or the owning service's answer (then cached)."""
        if hit is not None:
            return hit
        value = await client.get_json(path, **params)
        if value is None:
            return None
        raw = json.dumps(value).encode()
        await self.cache.set(key, raw, ttl=self.ttl)
        return raw

    async def contact_and_heads(
        self, user_id: str, code: str, channel: str
    ) -> tuple[Contact | None, TemplateHeads | None]:
        """The user's contact and the template's heads, both from one cache read; a
        miss reads through to the owning service."""
        keys = (cachekeys.user_contact(user_id), cachekeys.template_head(code, channel))
        contact_hit, heads_hit = await self.cache.get_many(keys)
        contact = await self._fill(
            keys[0], contact_hit, self.users, f"/internal/users/{user_id}/contact"
        )
        if contact is None:  # the user is unknown: the template is not worth a call
            return None, None
        heads = await self._fill(
            keys[1], heads_hit, self.templates, f"/internal/templates/{code}/heads", channel=channel
        )
        return (
            Contact.model_validate_json(contact),
            None if heads is None else TemplateHeads.model_validate_json(heads),
        )
