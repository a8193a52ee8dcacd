"""A webhook receiver on loopback for the tests: records every request per path and
answers as each path's script says (status and delay; the last answer repeats)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.loopback import Served
from tests.smtp import free_port


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


@dataclass
class WebhookReceiver:
    port: int = field(default_factory=free_port)
    received: list[Hook] = field(default_factory=list)
    # path -> answers in order, each (status, seconds to wait first)
    scripts: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    _served: Served | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Hook]:
        return [h for h in self.received if h.path == path]

    async def _hook(self, request: Request) -> Response:
        path = request.url.path
        seen = len(self.at(path))
        self.received.append(Hook(path, dict(request.headers), await request.body()))
        script = self.scripts.get(path) or [(200, 0.0)]
        status, delay = script[min(seen, len(script) - 1)]
        if delay:
            await asyncio.sleep(delay)
        headers = {"location": "http://127.0.0.1:1/elsewhere"} if 300 <= status < 400 else {}
        return Response(status_code=status, headers=headers)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._hook, methods=["POST"])])
        self._served = await Served.start(app, self.port)

    async def stop(self) -> None:
        if self._served is not None:
            await self._served.stop()

    async def wait_for(
        self, count: int, path: str = "/hook", timeout: float = 20.0, **where: Any
    ) -> list[Hook]:
        """The first ``count`` requests to ``path`` whose event has ``where``'s values."""
        deadline = time.monotonic() + timeout
        while True:
            found = [h for h in self.at(path) if all(h.event.get(k) == v for k, v in where.items())]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {count} webhooks to {path} arrived: {where}")
            await asyncio.sleep(0.02)
