"""``/health``, ``/ready`` and ``/metrics`` for every service (SPEC.md §1)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from herald.kit.aio import within
from herald.kit.envelope import failure, ok

Check = Callable[[], Awaitable[bool]]


def router(
    service: str, checks: Mapping[str, Check], details: Callable[[], dict[str, Any]] | None = None
) -> APIRouter:
    r = APIRouter(tags=["health"])

    @r.get("/health", summary="Liveness: the process answers")
    async def health() -> JSONResponse:
        return JSONResponse(ok({"service": service, "status": "ok"}))

    @r.get("/ready", summary="Readiness: every dependency of this service answers")
    async def ready() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(
            *(within(2.0, checks[n]()) for n in names), return_exceptions=True
        )
        state = {n: (res is True) for n, res in zip(names, results, strict=True)}
        failing = [n for n, up in state.items() if not up]
        extra = details() if details is not None else {}
        if failing:
            return JSONResponse(
                failure(
                    f"not ready: {', '.join(failing)} unavailable",
                    data={"service": service, "checks": state, **extra},
                ),
                status_code=503,
            )
        return JSONResponse(ok({"service": service, "status": "ready", "checks": state, **extra}))

    @r.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return r
