"""The gateway's view of the users and templates services: HTTP, read through a cache.

In ``herald dev`` the same clients reach the services in-process (an ASGI transport);
in the distributed setup they go over the network. Either way a warm cache answers
without calling the service at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from herald.domain import cachekeys
from herald.domain.errors import HeraldError
from herald.domain.suppressions import suppression_id
from herald.kit.clients import ServiceClient
from herald.ports import Cache
from herald.services.gateway.records import Contact, TemplateHeads

M = TypeVar("M", bound=BaseModel)

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
        self._parsed: dict[tuple[type[BaseModel], bytes], BaseModel] | None = None
        # A batch's directory: the cache keys its read-ahead found to name nothing
        # (an unknown user or template), answered as such without another call.
        self._absent: frozenset[str] = frozenset()

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
        if keys[0] in self._absent:
            return None, None
        contact_hit, heads_hit = await self.cache.get_many(keys)
        contact = await self._fill(
            keys[0], contact_hit, self.users, f"/internal/users/{user_id}/contact"
        )
        if contact is None:  # the user is unknown: the template is not worth a call
            return None, None
        heads = await self._heads(keys[1], heads_hit, code, channel)
        return (
            self._parse(Contact, contact),
            None if heads is None else self._parse(TemplateHeads, heads),
        )

    async def heads(self, code: str, channel: str) -> TemplateHeads | None:
        key = cachekeys.template_head(code, channel)
        (hit,) = await self.cache.get_many((key,))
        raw = await self._heads(key, hit, code, channel)
        return None if raw is None else self._parse(TemplateHeads, raw)

    async def heads_and_suppression(
        self, code: str, channel: str, address: str
    ) -> tuple[TemplateHeads | None, str | None]:
        """A template's heads and why ``address`` is suppressed (None when it is not),
        both from one cache read; a miss reads through to the owning service."""
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
        return self._parse(TemplateHeads, heads), reason

    async def _heads(self, key: str, hit: bytes | None, code: str, channel: str) -> bytes | None:
        if key in self._absent:
            return None
        return await self._fill(
            key, hit, self.templates, f"/internal/templates/{code}/heads", channel=channel
        )

    async def for_batch(
        self,
        *,
        user_ids: Sequence[str],
        templates: Sequence[tuple[str, str]],
        addresses: Sequence[tuple[str, str]],
    ) -> Directory:
        """This directory with everything a batch will look up read ahead: one cache
        read for all of it, then one call per kind for what the cache missed. A batch's
        thousand lookups would otherwise each wait their turn for a cache connection,
        and on a cold cache call the users service a thousand times."""
        users = list(dict.fromkeys(user_ids))
        heads = list(dict.fromkeys(templates))
        wanted = list(dict.fromkeys(addresses))
        keys = (
            [cachekeys.user_contact(u) for u in users]
            + [cachekeys.template_head(code, channel) for code, channel in heads]
            + [cachekeys.suppression(suppression_id(c, a)) for c, a in wanted]
        )
        cached = await self.cache.get_many(keys)
        local = {k: v for k, v in zip(keys, cached, strict=True) if v is not None}
        missing = [u for u in users if cachekeys.user_contact(u) not in local]
        if missing:
            for contact in (await self.contacts([uuid.UUID(u) for u in missing])).values():
                local[cachekeys.user_contact(str(contact.user_id))] = (
                    contact.model_dump_json().encode()
                )
        for code, channel in heads:
            key = cachekeys.template_head(code, channel)
            if key not in local:
                found = await self._heads(key, None, code, channel)
                if found is not None:
                    local[key] = found
        unknown = [p for p in wanted if cachekeys.suppression(suppression_id(*p)) not in local]
        if unknown:
            for (channel, address), reason in (await self.suppressions(unknown)).items():
                key = cachekeys.suppression(suppression_id(channel, address))
                local[key] = json.dumps({"reason": reason}).encode()
        ahead = Directory(self.users, self.templates, _ReadAhead(local, self.cache), self.ttl)
        ahead._parsed = {}  # a batch routes many notifications to one user or template
        ahead._absent = frozenset(
            [cachekeys.user_contact(u) for u in users]
            + [cachekeys.template_head(code, channel) for code, channel in heads]
        ).difference(local)
        return ahead

    def _parse(self, model: type[M], raw: bytes) -> M:
        """``raw`` as a ``model``; parsed once per value in a batch's directory."""
        if self._parsed is None:
            return model.model_validate_json(raw)
        found = self._parsed.get((model, raw))
        if found is None:
            found = self._parsed[(model, raw)] = model.model_validate_json(raw)
        return found  # type: ignore[return-value]

    async def suppressions(self, wanted: list[tuple[str, str]]) -> Suppressions:
        """Why each of ``wanted`` (channel, address) is suppressed, or None: one call per
        channel, fresh (a batch of new addresses would miss the cache one by one)."""
        found: Suppressions = dict.fromkeys(wanted)
        for channel in {c for c, _ in wanted}:
            addresses = list(dict.fromkeys(a for c, a in wanted if c == channel))
            data = await self._post(
                "/internal/suppressions/lookup", {"channel": channel, "addresses": addresses}
            )
            for address, reason in data.items():
                found[(channel, address)] = reason
        return found

    async def contacts(self, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Contact]:
        """The contacts of those of ``user_ids`` that exist, read fresh in one call (a
        page of a topic's subscribers: each read once, not worth caching)."""
        data = await self._post("/internal/users/contacts", _ids(user_ids))
        found = (Contact.model_validate(c) for c in data)
        return {c.user_id: c for c in found if c.user_id is not None}

    async def unknown(self, user_ids: list[uuid.UUID]) -> list[str]:
        """Those of ``user_ids`` that name no user."""
        data: list[str] = await self._post("/internal/users/unknown", _ids(user_ids))
        return data

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        """``data`` of the users service's answer; 503 when it cannot answer."""
        response = await self.users.post_json(path, body)
        if response.status_code >= 400:
            raise HeraldError.unavailable(f"the users service answered {response.status_code}")
        return response.json()["data"]

    async def suppress(self, channel: str, address: str, reason: str) -> None:
        response = await self.users.post_json(
            "/internal/suppressions", {"channel": channel, "address": address, "reason": reason}
        )
        if response.status_code >= 400:
            raise HeraldError.unavailable("the users service could not suppress the address")


def _ids(user_ids: list[uuid.UUID]) -> dict[str, Any]:
    return {"user_ids": [str(u) for u in user_ids]}


class _ReadAhead:
    """A cache answering from what was read ahead, then from the cache behind it."""

    def __init__(self, local: dict[str, bytes], behind: Cache) -> None:
        self._local = local
        self._behind = behind

    async def get(self, key: str) -> bytes | None:
        (found,) = await self.get_many([key])
        return found

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._local.pop(key, None)
        await self._behind.delete(*keys)

    async def ready(self) -> bool:
        return await self._behind.ready()

    async def close(self) -> None:
        """The cache behind is the directory's, and closed with it."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        found = [self._local.get(k) for k in keys]
        missing = [k for k, v in zip(keys, found, strict=True) if v is None]
        if missing:
            more = dict(zip(missing, await self._behind.get_many(missing), strict=True))
            found = [v if v is not None else more[k] for k, v in zip(keys, found, strict=True)]
        return found

    async def set(self, key: str, value: bytes, *, ttl: float) -> None:
        self._local[key] = value
        await self._behind.set(key, value, ttl=ttl)
