"""Any SMS provider with a JSON API, or a gateway of your own: ``POST`` to the URL
``{"to", "from", "body", "reference", "status_callback"}`` with ``Authorization: Bearer <token>``
when one is set. A 2xx takes it (its JSON ``id`` is kept as the provider's answer); a
429 or a 5xx is tried again (after ``Retry-After``); any other 4xx refuses the message
for good. Receipts come back through ``POST /api/v1/sms/status/`` with an API key."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from herald.adapters.answers import network_error, transient
from herald.domain.errors import DeliveryError
from herald.ports import SmsRequest


class HttpSms:
    def __init__(
        self, http: httpx.AsyncClient, *, url: str, sender: str, token: str | None = None
    ) -> None:
        self._http = http
        self._url = url
        self._sender = sender
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    @property
    def target(self) -> str:
        return urlsplit(self._url).netloc

    async def send(self, request: SmsRequest) -> str | None:
        body = {
            "to": request.to,
            "from": self._sender,
            "body": request.body,
            "reference": request.reference,
            "status_callback": request.status_callback,
        }
        try:
            response = await self._http.post(self._url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise network_error(exc, "the SMS provider")
        again = transient(response, "the SMS provider")
        if again is not None:
            raise again
        if response.status_code in (401, 403):
            raise DeliveryError(
                f"the SMS provider refused the credentials ({response.status_code})",
                permanent=False,
            )
        if response.status_code >= 400:
            raise DeliveryError(
                f"the SMS provider refused it: {response.status_code} {response.text[:300]}",
                permanent=True,
            )
        try:
            answer = response.json()
        except ValueError:
            return f"{response.status_code}"
        return str(answer.get("id")) if isinstance(answer, dict) and answer.get("id") else None

    async def close(self) -> None:
        return None
