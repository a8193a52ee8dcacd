"""What every console page shares: the signed-in session, forms checked against CSRF,
templates rendered with the headers that keep a page to Herald's own host."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from herald.domain.errors import HeraldError
from herald.kit.pages import environment
from herald.services.gateway.console.api import ConsoleApi
from herald.services.gateway.console.session import COOKIE, ConsoleSession, ConsoleSessions, same

# Nothing a page loads comes from another host: mail shown in a frame keeps its inline
# styles, and loses its remote images.
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
PAGE_SIZE = 25


class SignInNeeded(Exception):
    """Raised by a page whose visitor has no session: answered with the sign-in page."""

    def __init__(self, wanted: str) -> None:
        super().__init__(wanted)
        self.wanted = wanted


@dataclass(frozen=True, slots=True)
class Console:
    """One console: its sessions, its own API key and its way into the API with it, and
    whether cookies are Secure."""

    sessions: ConsoleSessions
    key: str
    api: ConsoleApi
    secure: bool


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


ConsoleDep = Annotated[Console, Depends(console)]


async def signed_in(request: Request, c: ConsoleDep) -> ConsoleSession:
    session = await c.sessions.find(request.cookies.get(COOKIE))
    if session is None:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(wanted)
    return session


Session = Annotated[ConsoleSession, Depends(signed_in)]


class Form:
    """A posted form, URL-encoded (the console's forms send nothing else)."""

    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str, default: str = "") -> str:
        values = self._fields.get(name)
        return values[0] if values else default

    def all(self, name: str) -> list[str]:
        return list(self._fields.get(name, []))


async def read_form(request: Request) -> Form:
    body = await request.body()
    try:
        return Form(parse_qs(body.decode(), keep_blank_values=True, max_num_fields=200))
    except UnicodeDecodeError:
        raise HeraldError(400, "the form is not UTF-8")
    except ValueError:  # past max_num_fields
        raise HeraldError(400, "the form has more than 200 fields")


async def checked_form(request: Request, session: Session) -> Form:
    """The form, once its CSRF token is the session's: a page of another site cannot
    post one (nor can a script without the token)."""
    form = await read_form(request)
    token = form.get("csrf") or request.headers.get("x-csrf-token")
    if not same(token, session.csrf):
        raise HeraldError(403, "the form's CSRF token is missing or wrong: reload the page")
    return form


CheckedForm = Annotated[Form, Depends(checked_form)]


def render(
    request: Request,
    name: str,
    session: ConsoleSession | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    template = environment("herald.services.gateway.console").get_template(name)
    body = template.render(request=request, session=session, **context)
    return HTMLResponse(body, status_code=status_code, headers=HEADERS)


def back(to: str, **notice: str) -> RedirectResponse:
    """After a form: to a page (303, so a reload does not post again), with a notice."""
    if notice:
        to += ("&" if "?" in to else "?") + "&".join(f"{k}={quote(v)}" for k, v in notice.items())
    return RedirectResponse(to, status_code=303, headers=HEADERS)


def pages(meta: Mapping[str, Any]) -> dict[str, int]:
    total = int(meta.get("total", 0))
    limit = int(meta.get("limit", PAGE_SIZE)) or PAGE_SIZE
    return {
        "page": int(meta.get("page", 1)),
        "pages": max(1, math.ceil(total / limit)),
        "total": total,
    }


async def listing(
    request: Request,
    session: ConsoleSession,
    c: Console,
    template: str,
    path: str,
    params: Mapping[str, Any],
    **context: Any,
) -> HTMLResponse:
    """A page of one of the API's lists, with links to the pages before and after (the
    same query, another ``page``)."""
    answer = await c.api.call("GET", path, params=dict(params))
    kept = {k: v for k, v in request.query_params.items() if k != "page" and v}

    def page_url(n: int) -> str:
        return f"{request.url.path}?{urlencode({**kept, 'page': n})}"

    return render(
        request,
        template,
        session,
        rows=answer.data,
        paging=pages(answer.meta),
        page_url=page_url,
        **context,
    )


def refusal_page(request: Request, exc: HeraldError, session: ConsoleSession | None) -> Response:
    return render(request, "refused.html", session, status_code=exc.status_code, error=exc.error)
