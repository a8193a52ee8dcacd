"""``/dev/inbox``: every mail and push ``herald dev`` captured, as Mailpit shows mail:
live, searchable, each message as HTML, text, headers and raw source, pushes drawn as
a phone would show them. And a JSON API for integration tests to assert on what they
sent: ``GET /dev/inbox/api/messages?to=&channel=&since=&q=``, one message by id, and
``DELETE /dev/inbox/api/messages``."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from herald.domain.errors import HeraldError
from herald.domain.statuses import Channel
from herald.kit import auth
from herald.kit.auth import Keys
from herald.kit.envelope import PaginationMeta, ok
from herald.kit.pages import environment
from herald.ports import CapturedMessages

# In-app notifications go to the real feed, shown at /dev/feed, not to the capture.
CHANNELS = tuple(c.value for c in Channel if c is not Channel.IN_APP)
# What a page may load: this host alone (a mail's remote images stay out).
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _since(value: str | None) -> float | None:
    """A Unix time, or an ISO 8601 time (UTC unless it says otherwise)."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace(" ", "+").replace("Z", "+00:00"))
    except ValueError:
        raise HeraldError.invalid(f"since: {value!r} is neither a Unix time nor ISO 8601")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def email_parts(raw: bytes) -> dict[str, Any]:
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    text_part = mail.get_body(preferencelist=("plain",))
    html_part = mail.get_body(preferencelist=("html",))
    return {
        "headers": {k: str(v) for k, v in mail.items()},
        "text": text_part.get_content() if text_part is not None else "",
        "html": html_part.get_content() if html_part is not None else None,
    }


def _content(item: dict[str, Any]) -> dict[str, Any]:
    raw: bytes = item["raw"]
    if item["channel"] == "email":
        return email_parts(raw)
    try:
        found: dict[str, Any] = json.loads(raw)
        return found
    except ValueError:
        return {"raw": raw.decode(errors="replace")}


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["id"],
        "channel": m["channel"],
        "to": m["recipient"],
        "subject": m["subject"],
        "at": _when(m["at"]),
    }


def router(store: CapturedMessages, keys: Keys) -> APIRouter:
    r = APIRouter(prefix="/dev", include_in_schema=False)

    def _item(item_id: int) -> dict[str, Any]:
        item = store.get(item_id)
        if item is None:
            raise HeraldError.not_found(f"captured message {item_id}")
        return item

    def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
        body = environment("herald.devmode").get_template(name).render(request=request, **context)
        return HTMLResponse(body, headers=HEADERS)

    @r.get("/inbox")
    async def inbox(request: Request, q: str = "", channel: str = "") -> HTMLResponse:
        found = store.find(text=q or None, channel=channel if channel in CHANNELS else None)
        return _page(
            request,
            "inbox.html",
            messages=[_summary(m) for m in found],
            total=store.count(),
            q=q,
            channel=channel,
            channels=CHANNELS,
        )

    @r.get("/feed")
    async def feed(request: Request, user_id: uuid.UUID | None = None) -> HTMLResponse:
        token = None
        if user_id is not None:
            token = auth.feed_token(keys, str(user_id), ttl=3600)
        return _page(request, "feed.html", user_id=user_id or "", token=token)

    @r.get("/inbox/api/messages")
    async def messages(
        to: str | None = None,
        channel: Channel | None = None,
        since: str | None = None,
        q: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> JSONResponse:
        """Newest first, each with its content: for mail its headers, text and HTML,
        for a push what was sent to the push service."""
        found = store.find(
            to=to, channel=channel, since=_since(since), text=q, limit=limit, with_raw=True
        )
        data = [{**_summary(m), "content": _content(m)} for m in found]
        meta = PaginationMeta.of(total=store.count(), page=1, limit=limit)
        return JSONResponse(ok(data, f"{len(data)} captured", meta))

    @r.delete("/inbox/api/messages")
    async def clear() -> JSONResponse:
        return JSONResponse(ok({"deleted": store.clear()}, "the inbox is empty"))

    @r.get("/inbox/api/messages/{item_id}")
    async def message(item_id: int) -> JSONResponse:
        item = _item(item_id)
        return JSONResponse(ok({**_summary(item), "content": _content(item)}))

    # The JSON before the API above, kept for whoever reads it.
    @r.get("/inbox.json")
    async def inbox_json() -> JSONResponse:
        return JSONResponse(ok(store.find(), "captured messages"))

    @r.get("/inbox/{item_id}.json")
    async def item_json(item_id: int) -> JSONResponse:
        item = _item(item_id)
        content = _content(item)
        item.pop("raw")
        return JSONResponse(ok({**item, "content": content}))

    @r.get("/inbox/{item_id}/raw")
    async def raw(item_id: int) -> PlainTextResponse:
        return PlainTextResponse(_item(item_id)["raw"].decode(errors="replace"), headers=HEADERS)

    @r.get("/inbox/{item_id}")
    async def item(request: Request, item_id: int) -> HTMLResponse:
        found = _item(item_id)
        return _page(
            request,
            "message.html",
            m=_summary(found),
            content=_content(found),
            raw=found["raw"].decode(errors="replace"),
        )

    return r


def mount(app: FastAPI, store: CapturedMessages, keys: Keys) -> None:
    app.include_router(router(store, keys))
    folder = Path(__file__).parent / "static"
    app.mount("/dev/static", StaticFiles(directory=str(folder)), name="dev-static")
