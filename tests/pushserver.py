"""Local stand-ins for a Web Push service and for FCM (with Google's OAuth token
endpoint), served over real HTTP on loopback, recording what they receive."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.loopback import Served
from tests.smtp import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class PushServer:
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    # Answers to give, in order; the last one repeats. (status, headers, json body)
    answers: list[tuple[int, dict[str, str], Any]] = field(
        default_factory=lambda: [(201, {}, None)]
    )
    access_token: str = "local-access-token"
    token_requests: int = 0
    _served: Served | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _push(self, request: Request) -> Response:
        self.received.append(
            Received(request.url.path, dict(request.headers), await request.body())
        )
        status, headers, body = self.answers[min(len(self.received) - 1, len(self.answers) - 1)]
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    async def _token(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        self.token_requests += 1
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        return JSONResponse(
            {"access_token": self.access_token, "expires_in": 3600, "token_type": "Bearer"}
        )

    async def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route("/{path:path}", self._push, methods=["POST"]),
            ]
        )
        self._served = await Served.start(app, self.port)

    async def stop(self) -> None:
        if self._served is not None:
            await self._served.stop()

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.received)} of {count} pushes arrived")
            await asyncio.sleep(0.02)

    def service_account(self, folder: Path) -> Path:
        """A service account file whose token endpoint is this server."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path = folder / "service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "herald-test",
                    "private_key_id": "k1",
                    "private_key": pem,
                    "client_email": "herald@herald-test.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{self.url}/token",
                }
            )
        )
        return path
