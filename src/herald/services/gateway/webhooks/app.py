"""The webhook worker's process (``herald worker webhooks``, port 8005): ``/health``,
``/ready`` (with its backlog) and ``/metrics``; its lifespan runs the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from herald.kit.app import create_app
from herald.kit.health import Check
from herald.services.gateway.webhooks.worker import WebhookWorker

SERVICE = "webhook_worker"


def build(*, worker: WebhookWorker, database: Check) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await worker.start()
        try:
            yield
        finally:
            await worker.stop()

    return create_app(
        service=SERVICE,
        title="Herald webhook worker",
        max_body_bytes=1024,
        lifespan=lifespan,
        checks={"database": database},
    )
