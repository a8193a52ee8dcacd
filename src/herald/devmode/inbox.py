"""``/dev/inbox``: every mail and push ``herald dev`` captured, like Mailpit."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from herald.domain.errors import HeraldError
from herald.kit.envelope import ok
from herald.ports import CapturedMessages

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:14px system-ui,sans-serif;margin:2rem;color:#222}}
table{{border-collapse:collapse;width:100%}}td,th{{padding:.4rem .6rem;border-bottom:1px solid #ddd;
text-align:left}}tr:hover{{background:#f6f6f6}}pre{{background:#f6f6f6;padding:1rem;
white-space:pre-wrap}}iframe{{width:100%;height:420px;border:1px solid #ddd}}
.tag{{font-size:12px;padding:2px 6px;border-radius:4px;background:#e8eefc}}</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _parts(raw: bytes) -> dict[str, Any]:
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    text_part = mail.get_body(preferencelist=("plain",))
    html_part = mail.get_body(preferencelist=("html",))
    return {
        "headers": {k: str(v) for k, v in mail.items()},
        "text": text_part.get_content() if text_part is not None else "",
        "html": html_part.get_content() if html_part is not None else None,
    }


def router(store: CapturedMessages) -> APIRouter:
    r = APIRouter(prefix="/dev", include_in_schema=False)

    @r.get("/inbox")
    async def inbox() -> HTMLResponse:
        body = _listing(store)
        return HTMLResponse(_PAGE.format(title="Herald dev inbox", body=body))

    @r.get("/inbox.json")
    async def inbox_json() -> JSONResponse:
        return JSONResponse(ok(store.list(), "captured messages"))

    def _item(item_id: int) -> dict[str, Any]:
        item = store.get(item_id)
        if item is None:
            raise HeraldError.not_found(f"captured message {item_id}")
        return item

    @r.get("/inbox/{item_id}.json")
    async def item_json(item_id: int) -> JSONResponse:
        item = _item(item_id)
        raw: bytes = item.pop("raw")
        item["content"] = _parts(raw) if item["channel"] == "email" else raw.decode()
        return JSONResponse(ok(item))

    @r.get("/inbox/{item_id}")
    async def item(item_id: int) -> HTMLResponse:
        found = _item(item_id)
        body = _message(found)
        body = "<p><a href='/dev/inbox'>&larr; inbox</a></p>" + body
        return HTMLResponse(
            _PAGE.format(title=html.escape(found["subject"] or "message"), body=body)
        )

    return r


def _listing(store: CapturedMessages) -> str:
    rows = "".join(
        f"<tr><td><span class=tag>{m['channel']}</span></td>"
        f"<td>{html.escape(m['recipient'])}</td>"
        f"<td><a href='/dev/inbox/{m['id']}'>{html.escape(m['subject'] or '(no subject)')}</a>"
        f"</td><td>{_when(m['at'])}</td></tr>"
        for m in store.list()
    )
    return (
        f"<p>{store.count()} captured. Nothing here left this machine.</p>"
        f"<table><tr><th></th><th>To</th><th>Subject / title</th><th>When</th></tr>"
        f"{rows}</table>"
    )


def _message(found: dict[str, Any]) -> str:
    raw: bytes = found["raw"]
    if found["channel"] != "email":
        return f"<pre>{html.escape(raw.decode())}</pre>"
    parts = _parts(raw)
    heads = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in parts["headers"].items()
    )
    rendered = (
        ""
        if parts["html"] is None
        else f'<h2>HTML</h2><iframe sandbox srcdoc="{html.escape(parts["html"])}"></iframe>'
    )
    return f"<table>{heads}</table>{rendered}<h2>Text</h2><pre>{html.escape(parts['text'])}</pre>"
