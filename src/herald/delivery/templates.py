"""Template versions as the workers need them.

A version never changes once saved, so it is kept in process memory for good after
the first read (and in the shared cache for the other workers).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from herald.domain import cachekeys
from herald.domain.errors import DeliveryError
from herald.kit.clients import ServiceClient
from herald.ports import Cache


class TemplateSource:
    def __init__(self, client: ServiceClient, cache: Cache, *, max_entries: int = 2048) -> None:
        self._client = client
        self._cache = cache
        self._local: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._max = max_entries

    async def version(self, code: str, channel: str, locale: str, number: int) -> dict[str, Any]:
        key = cachekeys.template_version(code, channel, locale, number)
        found = self._local.get(key)
        if found is None:
            raw = await self._cache.get(key)
            found = json.loads(raw) if raw is not None else None
        if found is None:
            found = await self._client.get_json(
                f"/internal/templates/{code}/versions/{number}", channel=channel, locale=locale
            )
            if found is None:
                raise DeliveryError(
                    f"template '{code}' version {number} ({locale}) not found", permanent=True
                )
            await self._cache.set(key, json.dumps(found).encode(), ttl=86400)
        self._local[key] = found
        self._local.move_to_end(key)
        if len(self._local) > self._max:
            self._local.popitem(last=False)
        return found
