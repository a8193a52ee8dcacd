"""An ASGI app served by uvicorn on loopback, in the test's own event loop: what the
tests' stand-ins (a push service, a webhook receiver) run on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class Served:
    server: uvicorn.Server
    task: asyncio.Task[None]

    @classmethod
    async def start(cls, app: Any, port: int) -> Served:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            # Answers a test left sleeping do not hold its end.
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        return cls(server, task)

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task
