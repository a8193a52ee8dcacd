"""Webhooks posted over HTTP with httpx: the target checked before each post (the name
may resolve elsewhere than at registration), no redirect followed, the answer's body
never read (only its status matters, and a hostile endpoint could send gigabytes)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from herald.adapters.push.http import check_target
from herald.domain import targets
from herald.domain.errors import DeliveryError
from herald.ports import WebhookAnswer


async def why_refused(url: str, *, allow_private: bool) -> str | None:
    try:
        await check_target(url, allow_private=allow_private, rule=targets.check_webhook)
    except DeliveryError as exc:
        return exc.error
    return None


class HttpWebhookTransport:
    def __init__(self, *, timeout: float, allow_private: bool, max_connections: int = 512) -> None:
        self._allow_private = allow_private
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"user-agent": "Herald-Webhooks/1"},
        )

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        try:
            await check_target(url, allow_private=self._allow_private, rule=targets.check_webhook)
        except DeliveryError as exc:
            return WebhookAnswer(None, exc.error, permanent=exc.permanent)
        try:
            async with self._http.stream("POST", url, content=body, headers=headers) as answer:
                status = answer.status_code
        except httpx.TimeoutException:
            return WebhookAnswer(None, "no answer within the timeout")
        except httpx.HTTPError as exc:
            return WebhookAnswer(None, f"unreachable: {exc!r}"[:500])
        except (httpx.InvalidURL, ValueError) as exc:  # not an HTTPError
            return WebhookAnswer(None, f"not a usable URL: {exc}"[:500], permanent=True)
        if 200 <= status < 300:
            return WebhookAnswer(status)
        if 300 <= status < 400:
            return WebhookAnswer(status, f"answered {status}; redirects are not followed")
        return WebhookAnswer(status, f"answered {status}")

    async def close(self) -> None:
        await self._http.aclose()
