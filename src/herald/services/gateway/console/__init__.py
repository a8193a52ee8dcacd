"""The console (SPEC.md §6.4): server-rendered pages for the people who operate Herald,
at ``/console/``, every asset served from here."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from herald.domain.errors import HeraldError
from herald.kit.errors import describe_all
from herald.services.gateway.console import (
    admin,
    home,
    notifications,
    people,
    signin,
    template_pages,
)
from herald.services.gateway.console.api import ConsoleApi, console_key
from herald.services.gateway.console.pages import Console, SignInNeeded, back, refusal_page
from herald.services.gateway.console.session import COOKIE, ConsoleSessions
from herald.services.gateway.context import GatewayContext

PREFIX = "/console"


def mount(app: FastAPI, ctx: GatewayContext, *, session_seconds: int) -> None:
    key = console_key(ctx.signing)
    app.state.console = Console(
        sessions=ConsoleSessions(
            ctx.directory.cache, ctx.signing.derive("console sessions"), ttl=session_seconds
        ),
        key=key,
        api=ConsoleApi(app, key),
        secure=ctx.public_url.startswith("https://"),
    )
    for part in (signin, home, notifications, template_pages, people, admin):
        app.include_router(part.router, prefix=PREFIX, include_in_schema=False)
    folder = Path(__file__).parent / "static"
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(folder)), name="console-static")

    @app.get(PREFIX, include_in_schema=False)
    async def bare() -> Response:
        return back(f"{PREFIX}/")

    @app.exception_handler(SignInNeeded)
    async def _sign_in(_: Request, exc: SignInNeeded) -> Response:
        return back(f"{PREFIX}/login?next={quote(exc.wanted)}")

    api_error = app.exception_handlers[HeraldError]
    api_invalid = app.exception_handlers[RequestValidationError]

    async def _refused(request: Request, exc: Any) -> Any:
        if not request.url.path.startswith(f"{PREFIX}/"):
            handler = api_error if isinstance(exc, HeraldError) else api_invalid
            return await handler(request, exc)  # type: ignore[misc]
        if isinstance(exc, RequestValidationError):
            exc = HeraldError.invalid(describe_all(exc.errors()))
        c: Console = app.state.console
        session = await c.sessions.find(request.cookies.get(COOKIE))
        return refusal_page(request, exc, session)

    app.add_exception_handler(HeraldError, _refused)
    app.add_exception_handler(RequestValidationError, _refused)
