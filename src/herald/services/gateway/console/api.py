"""The console's way into Herald: the public API, called in-process with the console's
own admin key. Whatever the console does, the API does, with every rule it enforces;
the console holds no second way to write a notification, a template or a user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from herald.config import API_KEY_PREFIX
from herald.domain.errors import HeraldError
from herald.kit.auth import Keys

# What the console's key is derived from; it is never shown, and every replica derives
# the same one.
PURPOSE = "console api key"


def console_key(signing: Keys) -> str:
    return API_KEY_PREFIX + signing.derive(PURPOSE)


@dataclass(frozen=True, slots=True)
class Answer:
    data: Any
    meta: dict[str, Any]
    message: str


class ConsoleApi:
    def __init__(self, app: FastAPI, key: str) -> None:
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://console.invalid",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30.0,
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Answer:
        """``data`` and ``meta`` of the answer; a HeraldError with the API's own status
        and message when it refused."""
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        response = await self._http.request(method, path, json=json, params=query)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            raise HeraldError(
                response.status_code, str(body.get("error") or response.reason_phrase)
            )
        return Answer(body.get("data"), body.get("meta") or {}, str(body.get("message", "")))

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.call("GET", path, params=params)).data

    async def close(self) -> None:
        await self._http.aclose()
