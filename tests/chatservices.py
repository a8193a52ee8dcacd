"""Stand-ins for chat webhooks on loopback, answering as Slack's, Discord's and a
Teams workflow's documentation says: Slack 200 ``ok``, Discord 204, Teams 202; each
path can be told to answer otherwise first (a 429 with its wait, a 404 for a webhook
that is gone, a 400 for a payload refused)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.loopback import Served
from tests.smtp import free_port

_OK = {"slack": (200, "ok"), "discord": (204, ""), "teams": (202, "")}


@dataclass
class Posted:
    kind: str
    hook: str
    body: dict[str, Any]


@dataclass
class ChatServices:
    port: int = field(default_factory=free_port)
    posted: list[Posted] = field(default_factory=list)
    # (kind, hook) -> answers to give first: (status, body, headers)
    scripts: dict[tuple[str, str], list[tuple[int, Any, dict[str, str]]]] = field(
        default_factory=dict
    )
    _served: Served | None = None

    def url(self, kind: str, hook: str = "h1") -> str:
        return f"http://127.0.0.1:{self.port}/{kind}/{hook}"

    async def _hook(self, request: Request) -> Response:
        kind, hook = request.path_params["kind"], request.path_params["hook"]
        self.posted.append(Posted(kind, hook, json.loads(await request.body())))
        script = self.scripts.get((kind, hook))
        if script:
            status, body, headers = script.pop(0)
            if isinstance(body, dict):
                return JSONResponse(body, status, headers=headers)
            return PlainTextResponse(str(body), status, headers=headers)
        status, text = _OK[kind]
        return Response(text, status) if text else Response(status_code=status)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{kind}/{hook}", self._hook, methods=["POST"])])
        self._served = await Served.start(app, self.port)

    async def stop(self) -> None:
        if self._served is not None:
            await self._served.stop()
