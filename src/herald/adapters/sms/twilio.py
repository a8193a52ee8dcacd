"""Twilio's Programmable Messaging: ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json``
(form-encoded ``To``, ``From``, ``Body``, ``StatusCallback``; HTTP basic auth with the
account SID and auth token), and the signature Twilio puts on the delivery receipts it
posts back (``X-Twilio-Signature``: HMAC-SHA1 of the URL and the sorted form fields,
under the auth token, base64)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from herald.adapters.answers import network_error, transient
from herald.domain.errors import DeliveryError, HeraldError
from herald.ports import SmsReceipt, SmsRequest

# What a receipt says of a text that never arrived.
STATUSES_FAILED = frozenset({"failed", "undelivered"})


class TwilioSms:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        base_url: str = "https://api.twilio.com",
    ) -> None:
        self._http = http
        self._sid = account_sid
        self._auth = (account_sid, auth_token)
        self._sender = sender
        self._base = base_url.rstrip("/")

    @property
    def target(self) -> str:
        return urlsplit(self._base).netloc

    def _from(self) -> dict[str, str]:
        # A Messaging Service (MG…) picks the number itself.
        key = "MessagingServiceSid" if self._sender.startswith("MG") else "From"
        return {key: self._sender}

    async def send(self, request: SmsRequest) -> str | None:
        form = {"To": request.to, "Body": request.body, **self._from()}
        if request.status_callback:
            form["StatusCallback"] = request.status_callback
        url = f"{self._base}/2010-04-01/Accounts/{self._sid}/Messages.json"
        try:
            response = await self._http.post(url, data=form, auth=self._auth)
        except httpx.HTTPError as exc:
            raise network_error(exc, "Twilio")
        again = transient(response, "Twilio")
        if again is not None:
            raise again
        body = _json(response)
        if response.status_code in (401, 403):
            # Herald's credentials, not this message: the breaker holds the backlog.
            raise DeliveryError(
                f"Twilio refused the credentials ({response.status_code})", permanent=False
            )
        if response.status_code >= 400:
            code, message = body.get("code"), body.get("message") or response.reason_phrase
            raise DeliveryError(f"Twilio refused it: {code} {message}".strip(), permanent=True)
        return f"{body.get('sid', '')} {body.get('status', '')}".strip() or None

    async def close(self) -> None:
        return None  # the HTTP client is shared and closed by its owner


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def signature(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    """What Twilio signs a callback with: the full URL, then each form field's name and
    value, sorted by name."""
    signed = url + "".join(f"{k}{form[k]}" for k in sorted(form))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TwilioReceipts:
    """Twilio's status callbacks: ``MessageStatus`` and ``ErrorCode`` in a signed form."""

    def __init__(self, auth_token: str) -> None:
        self._token = auth_token

    def read(self, url: str, form: Mapping[str, str], given: str | None) -> SmsReceipt:
        if given is None or not hmac.compare_digest(signature(self._token, url, form), given):
            raise HeraldError.forbidden("the receipt's X-Twilio-Signature is not Twilio's")
        said = form.get("MessageStatus", "") or "no status"
        code = form.get("ErrorCode")
        return SmsReceipt(
            failed=said in STATUSES_FAILED,
            detail=f"Twilio: {said}" + (f" (error {code})" if code else ""),
        )
