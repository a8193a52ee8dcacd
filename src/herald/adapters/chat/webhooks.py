"""Chat through incoming webhooks: Slack's, Discord's, and the Microsoft Teams
workflows that post a card ("When a Teams webhook request is received"). One POST of
JSON per message; what each service answers is read as its documentation says.

- Slack: ``{"text", "blocks"?}``; 200 ``ok``. 404 ``no_service``/``channel_not_found``
  and 410 ``channel_is_archived``: the webhook is gone. Other 4xx: this message is
  refused (``invalid_payload``, ``action_prohibited``).
- Discord: ``{"content"}`` (at most 2,000 characters); 204. 404 (unknown webhook) and
  401 (its token no longer valid): gone. 429 says when to try again, in
  ``Retry-After`` and in the body's ``retry_after``.
- Teams: an Adaptive Card in a ``message`` with one attachment; 200 or 202. 404: gone.

Everywhere 429 and 5xx are tried again (after the service's wait), a network failure
too, and a URL that is (or resolves to) a private address is refused."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from herald.adapters.answers import network_error, retry_after
from herald.adapters.push.http import check_target
from herald.domain.errors import DeliveryError, DeviceGone
from herald.ports import ChatRequest

DISCORD_LIMIT = 2000
_GONE = {"slack": {404, 410}, "discord": {401, 404}, "teams": {404, 410}}
_NAMES = {"slack": "Slack", "discord": "Discord", "teams": "Teams"}


def payload(request: ChatRequest) -> dict[str, Any]:
    if request.kind == "slack":
        body: dict[str, Any] = {"text": request.text}
        if request.blocks:
            body["blocks"] = request.blocks
        return body
    if request.kind == "discord":
        return {"content": request.text[:DISCORD_LIMIT]}
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{"type": "TextBlock", "text": request.text, "wrap": True}],
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


class WebhookChatTransport:
    def __init__(self, http: httpx.AsyncClient, *, allow_private: bool = False) -> None:
        self._http = http
        self._allow_private = allow_private

    def target(self, request: ChatRequest) -> str:
        return urlsplit(request.webhook_url).netloc

    async def send(self, request: ChatRequest) -> str | None:
        name = _NAMES[request.kind]
        await check_target(request.webhook_url, allow_private=self._allow_private)
        try:
            response = await self._http.post(request.webhook_url, json=payload(request))
        except httpx.HTTPError as exc:
            raise network_error(exc, name)
        said = response.text[:300].strip()
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryError(
                f"{name} answered {response.status_code} {said}".strip(),
                permanent=False,
                retry_after=_wait(response),
            )
        if response.status_code in _GONE[request.kind]:
            raise DeviceGone(f"{name} says the webhook is gone: {response.status_code} {said}")
        if response.status_code >= 300:
            raise DeliveryError(
                f"{name} refused it: {response.status_code} {said}".strip(), permanent=True
            )
        return f"{name} {response.status_code}"

    async def close(self) -> None:
        return None


def _wait(response: httpx.Response) -> float | None:
    """``Retry-After``, or Discord's ``retry_after`` (seconds) in the body."""
    found = retry_after(response)
    if found is not None:
        return found
    try:
        body = response.json()
    except ValueError:
        return None
    wait = body.get("retry_after") if isinstance(body, dict) else None
    return float(wait) if isinstance(wait, int | float) else None
