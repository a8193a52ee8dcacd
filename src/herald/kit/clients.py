"""Calls from one service to another over HTTP, with a short-lived service token.

In ``herald dev`` the same client reaches the other service in-process through an ASGI
transport; in the distributed setup it goes over the network.
"""

from __future__ import annotations

from typing import Any

import httpx

from herald.domain.errors import HeraldError
from herald.kit import auth, tracing


class ServiceClient:
    """Calls one upstream service with a short-lived service token."""

    def __init__(self, http: httpx.AsyncClient, *, name: str, keys: auth.Keys, issuer: str) -> None:
        self.caller = f"service:{issuer}"
        self.http = http
        self.name = name
        self._secret = keys.service(issuer)

    def token(self, scopes: list[str], subject: str | None = None) -> str:
        return auth.mint(self._secret, subject=subject or self.caller, ttl=300, scopes=scopes)

    def _headers(self) -> dict[str, str]:
        # Reading templates and contacts is all a service's own calls need.
        return {"Authorization": f"Bearer {self.token(['send'])}", **tracing.inject()}

    async def get_json(self, path: str, **params: str) -> dict[str, Any] | None:
        """``data`` of the response; None on 404; 503 when the service cannot answer."""
        try:
            response = await self.http.get(path, params=params, headers=self._headers())
        except httpx.HTTPError as exc:
            raise HeraldError.unavailable(f"the {self.name} service is unavailable ({exc})")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise HeraldError.unavailable(
                f"the {self.name} service answered {response.status_code}"
            )
        data: dict[str, Any] = response.json()["data"]
        return data

    async def post_json(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return await self.http.post(path, json=body, headers=self._headers())
        except httpx.HTTPError as exc:
            raise HeraldError.unavailable(f"the {self.name} service is unavailable ({exc})")
