"""FCM HTTP v1: ``POST {base}/v1/projects/{project}/messages:send`` with an OAuth2 token
from a service account (google-auth). The base URL is a setting so that tests and
self-hosted gateways can stand in for Google."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from herald.adapters.answers import network_error, transient
from herald.domain.errors import DeliveryError, DeviceGone
from herald.ports import PushRequest

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
MAX_PAYLOAD = 4096  # FCM's limit for notification + data
# Where FCM names the field at fault in an INVALID_ARGUMENT (google.rpc.BadRequest).
_TOKEN_FIELD = "message.token"


class FcmTransport:
    def __init__(self, http: httpx.AsyncClient, *, base_url: str, credentials_file: Path) -> None:
        # Imported here, not with the module: google-auth's token refresh brings
        # requests, which only a process configured for FCM needs.
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        self._token_request = Request
        self._http = http
        self._base = base_url.rstrip("/")
        load = service_account.Credentials.from_service_account_file
        self._credentials = load(str(credentials_file), scopes=[SCOPE])  # type: ignore[no-untyped-call]
        self._project = json.loads(credentials_file.read_text())["project_id"]
        self._lock = asyncio.Lock()

    def target(self, request: PushRequest) -> str:
        return urlsplit(self._base).netloc

    async def close(self) -> None:
        return None  # the HTTP client is shared and closed by its owner

    async def _token(self) -> str:
        async with self._lock:
            creds = self._credentials
            if not creds.valid or (creds.expiry and creds.expiry.timestamp() - time.time() < 60):
                # google-auth refreshes synchronously; keep it off the event loop.
                await asyncio.to_thread(creds.refresh, self._token_request())
            return str(creds.token)

    def body(self, request: PushRequest) -> dict[str, Any]:
        payload = request.payload
        notification = {k: payload[k] for k in ("title", "body", "image") if payload.get(k)}
        data = {
            k: v if isinstance(v, str) else json.dumps(v)
            for k, v in payload.get("data", {}).items()
        }
        if payload.get("link"):
            data["link"] = str(payload["link"])
        message: dict[str, Any] = {
            "token": request.token,
            "notification": notification,
            "data": data,
            "android": {
                "priority": "high" if request.urgency == "high" else "normal",
                "ttl": f"{request.ttl}s",
            },
            "webpush": {"headers": {"TTL": str(request.ttl), "Urgency": request.urgency}},
        }
        if request.topic:
            message["android"]["collapse_key"] = request.topic
        return {"message": message}

    async def send(self, request: PushRequest) -> str | None:
        if not request.token:
            raise DeliveryError("FCM device has no token", permanent=True)
        body = self.body(request)
        message = body["message"]
        size = len(json.dumps(message["notification"])) + len(json.dumps(message["data"]))
        if size > MAX_PAYLOAD:
            raise DeliveryError(
                f"push payload is {size} bytes; FCM allows {MAX_PAYLOAD}", permanent=True
            )
        try:
            token = await self._token()
        except Exception as exc:  # google-auth raises its own transport and refresh errors
            raise DeliveryError(f"FCM credentials could not be refreshed: {exc}", permanent=False)
        url = f"{self._base}/v1/projects/{self._project}/messages:send"
        try:
            response = await self._http.post(
                url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise network_error(exc, "FCM")
        if response.status_code == 200:
            return _message_name(response)
        error = _error(response)
        code = _error_code(error)
        # Only what names the token says the device is gone. A 404 or INVALID_ARGUMENT
        # about anything else (a wrong project id or base URL) would otherwise prune
        # every device Herald knows.
        if code == "UNREGISTERED" or (code == "INVALID_ARGUMENT" and _names_token(error)):
            raise DeviceGone(f"FCM says the token is not usable ({code})")
        retry = transient(response, "FCM")
        if retry is not None:
            raise retry
        # 401, 403 and 404 speak of Herald's credentials, project or URL: a failure of
        # the transport (the breaker holds the backlog), not of this message.
        raise DeliveryError(
            f"FCM refused the message: {response.status_code} {code}",
            permanent=response.status_code not in (401, 403, 404),
        )


def _message_name(response: httpx.Response) -> str | None:
    """The message's name FCM gave it ("projects/…/messages/…")."""
    try:
        name = response.json().get("name")
    except (ValueError, AttributeError):
        return None
    return str(name)[:500] if name else None


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _details(error: dict[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _error_code(error: dict[str, Any]) -> str | None:
    for detail in _details(error):
        if detail.get("errorCode"):
            return str(detail["errorCode"])
    status = error.get("status")
    return str(status) if status else None


def _names_token(error: dict[str, Any]) -> bool:
    for detail in _details(error):
        violations = detail.get("fieldViolations")
        if isinstance(violations, list) and any(
            isinstance(v, dict) and v.get("field") == _TOKEN_FIELD for v in violations
        ):
            return True
    return False
