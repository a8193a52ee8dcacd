"""Signing in and out. The password is checked by the users service's own login, so a
console sign-in is throttled exactly like an API login (per account and per client
address); only a user with the ``admin`` role gets a session."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from herald.domain.errors import HeraldError
from herald.kit import auth
from herald.kit.app import CLIENT_ADDRESS_HEADER
from herald.services.gateway import keys
from herald.services.gateway.console.pages import (
    CheckedForm,
    ConsoleDep,
    back,
    read_form,
    render,
)
from herald.services.gateway.console.session import COOKIE, LOGIN_COOKIE, same
from herald.services.gateway.security import Ctx

router = APIRouter()


def _next(value: str) -> str:
    # Only a page of the console: never another host (an open redirect).
    return value if value.startswith("/console/") and not value.startswith("//") else "/console/"


@router.get("/login")
async def login_page(request: Request, c: ConsoleDep, next: str = "/console/") -> Response:
    token = secrets.token_urlsafe(24)
    page = render(request, "login.html", None, login_token=token, next=_next(next), email="")
    page.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=c.secure, path="/console/"
    )
    return page


@router.post("/login")
async def login(request: Request, c: ConsoleDep, ctx: Ctx) -> Response:
    form = await read_form(request)
    email, wanted = form.get("email").strip(), _next(form.get("next", "/console/"))
    if not same(form.get("login_token"), request.cookies.get(LOGIN_COOKIE, "")):
        raise HeraldError(403, "the sign-in form is out of date: load it again")
    try:
        user = await _admin(ctx, email, form.get("password"), request)
    except HeraldError as exc:
        page = render(
            request,
            "login.html",
            None,
            status_code=exc.status_code,
            error=exc.error,
            login_token=request.cookies.get(LOGIN_COOKIE),
            next=wanted,
            email=email,
        )
        if "Retry-After" in exc.headers:
            page.headers["Retry-After"] = exc.headers["Retry-After"]
        return page
    # The console's own key, made again if someone revoked it.
    await keys.bootstrap(ctx.sessions, c.key, name="console")
    sid, _ = await c.sessions.open(user_id=user["id"], email=user["email"], name=user["name"])
    done = back(wanted)
    done.set_cookie(
        COOKIE,
        sid,
        max_age=c.sessions.ttl,
        httponly=True,
        samesite="strict",
        secure=c.secure,
        path="/console/",
    )
    done.delete_cookie(LOGIN_COOKIE, path="/console/")
    return done


async def _admin(ctx: Ctx, email: str, password: str, request: Request) -> dict[str, Any]:
    """The user these credentials are, if they are an admin's."""
    users = ctx.directory.users
    client = request.client.host if request.client else "unknown"
    try:
        answer = await users.http.post(
            "/api/v1/auth/login",
            json={"email": email, "password": password},
            headers={CLIENT_ADDRESS_HEADER: client},
        )
        body = answer.json()
        if answer.status_code != 200:
            wait = answer.headers.get("retry-after")
            # A malformed email is a wrong one: the form says no more than the API.
            error = "email or password is wrong" if answer.status_code == 422 else body["error"]
            status = 401 if answer.status_code == 422 else answer.status_code
            raise HeraldError(status, str(error), headers={"Retry-After": wait} if wait else {})
        token = body["data"]["access_token"]
        user_id = auth.verify(ctx.signing.user, token).user_id
        found = await users.http.get(
            f"/api/v1/users/{user_id}", headers={"Authorization": f"Bearer {token}"}
        )
        if found.status_code != 200:
            raise HeraldError.unavailable(f"the users service answered {found.status_code}")
        user: dict[str, Any] = found.json()["data"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise HeraldError.unavailable(f"the users service could not be asked ({exc})")
    if user.get("role") != "admin":
        raise HeraldError.forbidden("this account may not use the console (it is not an admin)")
    return user


@router.post("/logout")
async def logout(request: Request, c: ConsoleDep, form: CheckedForm) -> Response:
    await c.sessions.close(request.cookies.get(COOKIE, ""))
    done = back("/console/login")
    done.delete_cookie(COOKIE, path="/console/")
    return done
