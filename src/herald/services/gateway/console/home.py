"""The overview page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from herald.domain.messages import FAILED_QUEUE
from herald.domain.statuses import Channel, Status
from herald.kit.breakers import FRESH, open_breakers
from herald.kit.db import unit_of_work
from herald.services.gateway import gauges
from herald.services.gateway.console import overview
from herald.services.gateway.console.pages import Session, render
from herald.services.gateway.security import Ctx

router = APIRouter()


@router.get("/")
async def overview_page(request: Request, session: Session, ctx: Ctx) -> Response:
    now = ctx.clock.now()
    windows = []
    async with unit_of_work(ctx.sessions) as db:
        for w in overview.WINDOWS:
            counts = await overview.accepted(db, now, w)
            windows.append(
                {
                    "label": w.label,
                    "start": w.start,
                    "since": (now - w.span).isoformat(timespec="seconds"),
                    "table": await overview.by_status(db, now - w.span),
                    "bars": overview.bars(counts),
                    "total": sum(counts),
                }
            )
    depths = await gauges.depths(ctx.broker)
    return render(
        request,
        "overview.html",
        session,
        windows=windows,
        statuses=[s.value for s in Status],
        depths=depths,
        dead=depths.get(FAILED_QUEUE),
        breakers=await open_breakers(ctx.directory.cache, [c.value for c in Channel]),
        breaker_window=int(FRESH),
    )
