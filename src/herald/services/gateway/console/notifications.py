"""Notifications: the log with its filters, one notification's timeline and message,
and the form that sends a test notification and follows it to its end."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from herald.domain.errors import HeraldError
from herald.domain.statuses import FINAL, Channel, Status
from herald.kit.db import unit_of_work
from herald.services.gateway.console.pages import (
    HEADERS,
    PAGE_SIZE,
    CheckedForm,
    ConsoleDep,
    Session,
    back,
    listing,
    render,
)
from herald.services.gateway.repositories import NotificationRepository
from herald.services.gateway.security import Ctx

router = APIRouter()
FILTERS = (
    "status",
    "channel",
    "user_id",
    "parent_id",
    "template",
    "request_id",
    "since",
    "until",
)


def _moment(value: str, name: str) -> str | None:
    """A time from a filter (a browser's datetime-local is UTC here), as the API takes it."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        raise HeraldError.invalid(f"'{name}' is not a date and time: {value!r}")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


@router.get("/notifications")
async def log(request: Request, session: Session, c: ConsoleDep, page: int = 1) -> Response:
    chosen = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    shown = {
        "chosen": chosen,
        "statuses": [s.value for s in Status],
        "channels": [ch.value for ch in Channel],
    }
    try:
        params = {
            "status": chosen["status"],
            "notification_type": chosen["channel"],
            "user_id": chosen["user_id"],
            "parent_id": chosen["parent_id"],
            "template_code": chosen["template"],
            "request_id": chosen["request_id"],
            "created_after": _moment(chosen["since"], "since"),
            "created_before": _moment(chosen["until"], "until"),
            "page": max(1, page),
            "limit": PAGE_SIZE,
        }
        path = "/api/v1/notifications/"
        return await listing(request, session, c, "notifications.html", path, params, **shown)
    except HeraldError as exc:
        if exc.status_code >= 500:
            raise
        nothing = {"page": 1, "pages": 1, "total": 0}
        return render(
            request,
            "notifications.html",
            session,
            status_code=exc.status_code,
            rows=[],
            paging=nothing,
            error=exc.error,
            **shown,
        )


@router.get("/notifications/{notification_id}")
async def one(
    request: Request, notification_id: uuid.UUID, session: Session, c: ConsoleDep, ctx: Ctx
) -> Response:
    n = await c.api.get(f"/api/v1/notifications/{notification_id}")
    rendered, problem = await _message(ctx, c, n)
    return render(
        request,
        "notification.html",
        session,
        n=n,
        rendered=rendered,
        problem=problem,
        final=n["status"] in FINAL,
        follow=request.query_params.get("follow") == "1",
    )


async def _message(ctx: Ctx, c: ConsoleDep, n: dict[str, Any]) -> tuple[Any, str | None]:
    """The message as its template renders it: the version and locale it was sent with,
    and its own variables (read here: the API does not show them)."""
    if n.get("topic") and n.get("parent_id") is None:
        return None, "a topic send has no message of its own: its children do"
    async with unit_of_work(ctx.sessions) as db:
        row = await NotificationRepository(db).get(uuid.UUID(n["notification_id"]))
    variables = row.variables if row is not None else {}
    try:
        answer = await c.api.call(
            "POST",
            f"/api/v1/templates/{n['template_code']}/preview",
            json={
                "channel": n["notification_type"],
                "locale": n["locale"],
                "variables": variables,
                "version": n["template_version"],
            },
        )
    except HeraldError as exc:
        return None, exc.error
    return answer.data, None


@router.get("/notifications/{notification_id}/live")
async def live(notification_id: uuid.UUID, session: Session, c: ConsoleDep) -> Response:
    """Its status and history, for the page that follows it."""
    n = await c.api.get(f"/api/v1/notifications/{notification_id}")
    return JSONResponse(
        {"status": n["status"], "final": n["status"] in FINAL, "history": n["history"]},
        headers=HEADERS,
    )


@router.post("/notifications/{notification_id}/cancel")
async def cancel(notification_id: uuid.UUID, form: CheckedForm, c: ConsoleDep) -> Response:
    await c.api.call("POST", f"/api/v1/notifications/{notification_id}/cancel")
    return back(f"/console/notifications/{notification_id}", done="Cancelled.")


@router.get("/send")
async def send_form(request: Request, session: Session, c: ConsoleDep) -> Response:
    return await _send_page(request, session, c, {}, None)


async def _send_page(
    request: Request,
    session: Any,
    c: ConsoleDep,
    given: dict[str, str],
    error: str | None,
    status_code: int = 200,
) -> Response:
    codes = sorted({t["code"] for t in await c.api.get("/api/v1/templates/", limit=100)})
    return render(
        request,
        "send.html",
        session,
        status_code=status_code,
        codes=codes,
        channels=[ch.value for ch in Channel],
        given=given,
        error=error,
    )


@router.post("/send")
async def send(request: Request, session: Session, form: CheckedForm, c: ConsoleDep) -> Response:
    given = {
        k: form.get(k)
        for k in (
            "channel",
            "user_id",
            "email",
            "phone",
            "template",
            "variables",
            "priority",
            "send_at",
        )
    }
    try:
        body = _send_body(given)
        answer = await c.api.call("POST", "/api/v1/notifications/", json=body)
    except HeraldError as exc:
        return await _send_page(request, session, c, given, exc.error, exc.status_code)
    return back(f"/console/notifications/{answer.data['notification_id']}?follow=1")


def _send_body(given: dict[str, str]) -> dict[str, Any]:
    """The API's request from the form; the API judges it."""
    try:
        variables = json.loads(given["variables"] or "{}")
    except ValueError as exc:
        raise HeraldError.invalid(f"variables are not JSON: {exc}")
    body: dict[str, Any] = {
        "notification_type": given["channel"] or "email",
        "template_code": given["template"],
        "variables": variables,
        "request_id": f"console-{uuid.uuid4()}",
    }
    if given["priority"]:
        if not given["priority"].isdigit():
            raise HeraldError.invalid("priority is a number from 0 to 9")
        body["priority"] = int(given["priority"])
    if given["send_at"]:
        body["send_at"] = _moment(given["send_at"], "send at")
    if given["user_id"]:
        body["user_id"] = given["user_id"].strip()
    elif given["email"]:
        body["to"] = {"email": given["email"].strip()}
    elif given["phone"]:
        body["to"] = {"phone": given["phone"].strip()}
    else:
        raise HeraldError.invalid("give a user id, an email address or a phone number")
    return body
