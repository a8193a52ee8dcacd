"""Stand-ins for SMS providers on loopback, speaking what their documentation says:
Twilio's Messages resource (form-encoded, HTTP basic auth with the account SID and
auth token, 201 with the message's ``sid`` and ``status``, errors as JSON with a
numeric ``code``), and a provider that takes Herald's own JSON. Each can be told to
answer with a status of the test's choosing, and the Twilio one posts signed status
callbacks the way Twilio does."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.loopback import Served
from tests.smtp import free_port

SID = "AC" + "0" * 32
TOKEN = "twilio-auth-token-for-tests"


@dataclass
class Sent:
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class SmsProvider:
    port: int = field(default_factory=free_port)
    sent: list[Sent] = field(default_factory=list)
    # Answers to give before taking messages: (status, JSON body, headers), in order.
    refusals: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    _served: Served | None = None

    @property
    def twilio_url(self) -> str:
        """HERALD_SMS_URL for the Twilio stand-in."""
        return f"twilio+http://{SID}:{TOKEN}@127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        """HERALD_SMS_URL for the JSON provider."""
        return f"http://127.0.0.1:{self.port}/v1/messages"

    async def _twilio(self, request: Request) -> Response:
        if request.path_params["sid"] != SID or request.headers.get("authorization") != (
            "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        ):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        self.sent.append(Sent(form, dict(request.headers)))
        refused = self._refused()
        if refused is not None:
            return refused
        sid = "SM" + secrets.token_hex(16)
        body = {"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body")}
        return JSONResponse(body, 201)

    async def _json(self, request: Request) -> Response:
        self.sent.append(Sent(json.loads(await request.body()), dict(request.headers)))
        refused = self._refused()
        if refused is not None:
            return refused
        return JSONResponse({"id": "msg-" + secrets.token_hex(6)}, 200)

    def _refused(self) -> Response | None:
        if not self.refusals:
            return None
        status, body, headers = self.refusals.pop(0)
        return JSONResponse(body, status, headers=headers)

    async def receipt(
        self, client: httpx.AsyncClient, sent: Sent, status: str, error_code: str | None = None
    ) -> httpx.Response:
        """Post the status callback Twilio would, signed as Twilio signs it, through
        ``client`` (Herald's app, wherever it is served)."""
        url = sent.form["StatusCallback"]
        form = {"MessageSid": "SM" + "1" * 32, "MessageStatus": status, "AccountSid": SID}
        if error_code:
            form["ErrorCode"] = error_code
        # Signed by Twilio's own library: Herald is held to it, not to itself.
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        where = urlsplit(url)
        return await client.post(
            f"{where.path}?{where.query}", data=form, headers={"X-Twilio-Signature": signature}
        )

    async def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio, methods=["POST"]),
                Route("/v1/messages", self._json, methods=["POST"]),
            ]
        )
        self._served = await Served.start(app, self.port)

    async def stop(self) -> None:
        if self._served is not None:
            await self._served.stop()
