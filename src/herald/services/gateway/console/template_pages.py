"""Templates: the list, a template's versions, two versions side by side, and the
editor whose preview follows the typing and whose publish saves the next version."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from herald.domain.errors import HeraldError
from herald.domain.template_fields import CHANNEL_FIELDS, SINGLE_LINE_FIELDS
from herald.services.gateway.console.diff import side_by_side
from herald.services.gateway.console.pages import (
    HEADERS,
    CheckedForm,
    ConsoleDep,
    Session,
    back,
    listing,
    render,
)

router = APIRouter()
CHANNELS = tuple(CHANNEL_FIELDS)


@router.get("/templates")
async def templates(request: Request, session: Session, c: ConsoleDep, page: int = 1) -> Response:
    params = {"page": max(1, page), "limit": 50}
    return await listing(request, session, c, "templates.html", "/api/v1/templates/", params)


@router.get("/templates/{code}")
async def versions(
    request: Request,
    code: str,
    session: Session,
    c: ConsoleDep,
    channel: str = "email",
    locale: str | None = None,
) -> Response:
    found = await c.api.get(
        f"/api/v1/templates/{quote(code)}/versions", channel=channel, locale=locale
    )
    return render(request, "template.html", session, code=code, channel=channel, versions=found)


@router.get("/templates/{code}/diff")
async def diff(
    request: Request,
    code: str,
    session: Session,
    c: ConsoleDep,
    a: int,
    b: int,
    channel: str = "email",
    locale: str | None = None,
) -> Response:
    path = f"/api/v1/templates/{quote(code)}"
    old = await c.api.get(path, channel=channel, locale=locale, version=a)
    new = await c.api.get(path, channel=channel, locale=locale, version=b)
    fields = [
        {"name": f, "rows": side_by_side(old.get(f), new.get(f))}
        for f in CHANNEL_FIELDS.get(channel, ())
    ]
    return render(
        request, "diff.html", session, code=code, channel=channel, old=old, new=new, fields=fields
    )


@router.get("/template-editor")
async def editor(
    request: Request,
    session: Session,
    c: ConsoleDep,
    code: str = "",
    channel: str = "email",
    locale: str | None = None,
) -> Response:
    _channel(channel)
    current: dict[str, Any] = {"code": code, "locale": locale or "en"}
    if code:
        current = await c.api.get(
            f"/api/v1/templates/{quote(code)}", channel=channel, locale=locale
        )
    return _editor(request, session, channel, current, None)


def _editor(
    request: Request,
    session: Any,
    channel: str,
    current: dict[str, Any],
    error: str | None,
    status_code: int = 200,
) -> Response:
    fields = [
        {"name": f, "value": current.get(f) or "", "short": f in SINGLE_LINE_FIELDS}
        for f in CHANNEL_FIELDS[channel]
    ]
    return render(
        request,
        "editor.html",
        session,
        status_code=status_code,
        channel=channel,
        current=current,
        fields=fields,
        variables=current.get("_variables") or _sample(channel, current),
        error=error,
    )


def _sample(channel: str, current: dict[str, Any]) -> str:
    """Variables to preview with: each one the template uses, standing for itself."""
    from jinja2 import TemplateError

    from herald.domain import templating  # the template engine: loaded when used

    try:
        names = templating.needs(channel, {f: current.get(f) for f in CHANNEL_FIELDS[channel]})
    except TemplateError:
        return "{}"
    return json.dumps({n: f"[{n}]" for n in names["all"]})


def _channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise HeraldError.invalid(f"no channel {channel!r}: one of {', '.join(CHANNELS)}")
    return channel


def _draft(form: Any) -> dict[str, Any]:
    channel = _channel(form.get("channel"))
    template: dict[str, Any] = {
        "code": form.get("code").strip(),
        "channel": channel,
        "locale": form.get("locale").strip() or "en",
    }
    for name in CHANNEL_FIELDS[channel]:
        value = form.get(name)
        if value:
            template[name] = value.replace("\r\n", "\n")
    if form.get("description"):
        template["description"] = form.get("description")
    return template


@router.post("/templates/render")
async def live_preview(form: CheckedForm, c: ConsoleDep) -> Response:
    """The editor's preview: the API's draft render of what is in the form now."""
    try:
        variables = json.loads(form.get("variables") or "{}")
        answer = await c.api.call(
            "POST",
            "/api/v1/templates/render",
            json={"template": _draft(form), "variables": variables},
        )
    except ValueError as exc:
        return JSONResponse({"error": f"variables are not JSON: {exc}"}, 422, headers=HEADERS)
    except HeraldError as exc:
        return JSONResponse({"error": exc.error}, exc.status_code, headers=HEADERS)
    return JSONResponse({"rendered": answer.data}, headers=HEADERS)


@router.post("/templates/publish")
async def publish(request: Request, session: Session, form: CheckedForm, c: ConsoleDep) -> Response:
    draft = _draft(form)
    try:
        answer = await c.api.call("POST", "/api/v1/templates/", json=draft)
    except HeraldError as exc:
        kept = {**draft, "_variables": form.get("variables")}
        return _editor(request, session, draft["channel"], kept, exc.error, exc.status_code)
    saved = answer.data
    return back(
        f"/console/templates/{quote(saved['code'])}?channel={saved['channel']}",
        done=f"Published version {saved['version']}.",
    )
