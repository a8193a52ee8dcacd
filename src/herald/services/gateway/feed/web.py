"""What a client's own pages load: ``/feed.js`` (the ``<herald-feed>`` element), and
the CORS answers that let pages of the sites in HERALD_FEED_ORIGINS call the feed
routes from the browser. Nothing else in the API answers another origin."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

_SCRIPT = Path(__file__).parent / "static" / "feed.js"
_FEED_PATHS = re.compile(r"/api/v1/users/[^/]+/feed(/.*)?")

router = APIRouter(include_in_schema=False)


@router.get("/feed.js")
async def feed_script() -> Response:
    return Response(
        _SCRIPT.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        # Short: a new Herald's element reaches pages within the hour.
        headers={
            "Cache-Control": "public, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            # Public code any page may load as a module (which is fetched with CORS);
            # what it reads is guarded by the feed routes' own CORS and tokens.
            "Access-Control-Allow-Origin": "*",
        },
    )


class FeedCors:
    """CORS for the feed's paths alone, for the origins named."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _FEED_PATHS.fullmatch(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def mount(app: FastAPI, origins: list[str]) -> None:
    app.include_router(router)
    if origins:
        app.add_middleware(FeedCors, origins=origins)
