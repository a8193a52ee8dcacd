"""The gateway's view of the users and templates services: HTTP, read through a cache.

In ``herald dev`` the same clients reach the services in-process (an ASGI transport);
in the distributed setup they go over the network. Either way a warm cache answers
without calling the service at all.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from herald.domain import cachekeys
from herald.domain.errors import HeraldError
from herald.domain.suppressions import suppression_id
from herald.kit.clients import ServiceClient
from herald.ports import Cache
from herald.services.gateway.records import Contact, TemplateHeads

# Why each (channel, address) is suppressed, or None when it is not.
Suppressions = dict[tuple[str, str], str | None]


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
        heads = await self._heads(keys[1], heads_hit, code, channel)
        return (
            Contact.model_validate_json(contact),
            None if heads is None else TemplateHeads.model_validate_json(heads),
        )

    async def heads(self, code: str, channel: str) -> TemplateHeads | None:
        key = cachekeys.template_head(code, channel)
        (hit,) = await self.cache.get_many((key,))
        raw = await self._heads(key, hit, code, channel)
        return None if raw is None else TemplateHeads.model_validate_json(raw)

    async def heads_and_suppression(
        self, code: str, channel: str, address: str, known: Suppressions | None = None
    ) -> tuple[TemplateHeads | None, str | None]:
        """A template's heads and why ``address`` is suppressed (None when it is not),
        both from one cache read; a miss reads through to the owning service.
        ``known``: the suppressions of a batch's addresses, looked up together."""
        if known is not None and (channel, address) in known:
            return await self.heads(code, channel), known[(channel, address)]
        entry = suppression_id(channel, address)
        keys = (cachekeys.template_head(code, channel), cachekeys.suppression(entry))
        heads_hit, suppressed_hit = await self.cache.get_many(keys)
        heads = await self._heads(keys[0], heads_hit, code, channel)
        if heads is None:
            return None, None
        suppressed = await self._fill(
            keys[1],
            suppressed_hit,
            self.users,
            "/internal/suppressions",
            channel=channel,
            address=address,
        )
        reason = None if suppressed is None else json.loads(suppressed)["reason"]
        return TemplateHeads.model_validate_json(heads), reason

    async def _heads(self, key: str, hit: bytes | None, code: str, channel: str) -> bytes | None:
        return await self._fill(
            key, hit, self.templates, f"/internal/templates/{code}/heads", channel=channel
        )

    async def suppressions(self, wanted: list[tuple[str, str]]) -> Suppressions:
        """Why each of ``wanted`` (channel, address) is suppressed, or None: one call per
        channel, fresh (a batch of new addresses would miss the cache one by one)."""
        found: Suppressions = dict.fromkeys(wanted)
        for channel in {c for c, _ in wanted}:
            addresses = list(dict.fromkeys(a for c, a in wanted if c == channel))
            response = await self.users.post_json(
                "/internal/suppressions/lookup", {"channel": channel, "addresses": addresses}
            )
            if response.status_code >= 400:
                raise HeraldError.unavailable(f"the users service answered {response.status_code}")
            for address, reason in response.json()["data"].items():
                found[(channel, address)] = reason
        return found

    async def contacts(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Contact]:
        """The contacts of those of ``user_ids`` that exist, read fresh in one call (a
        page of a topic's subscribers: each read once, not worth caching)."""
        data = await self._post("/internal/users/contacts", [str(u) for u in user_ids])
        found = (Contact.model_validate(c) for c in data)
        return {c.user_id: c for c in found if c.user_id is not None}

    async def unknown(self, user_ids: list[uuid.UUID]) -> list[str]:
        """Those of ``user_ids`` that name no user."""
        data: list[str] = await self._post("/internal/users/unknown", [str(u) for u in user_ids])
        return data

    async def _post(self, path: str, user_ids: list[str]) -> Any:
        response = await self.users.post_json(path, {"user_ids": user_ids})
        if response.status_code >= 400:
            raise HeraldError.unavailable(f"the users service answered {response.status_code}")
        return response.json()["data"]

    async def suppress(self, channel: str, address: str, reason: str) -> None:
        response = await self.users.post_json(
            "/internal/suppressions", {"channel": channel, "address": address, "reason": reason}
        )
        if response.status_code >= 400:
            raise HeraldError.unavailable("the users service could not suppress the address")
