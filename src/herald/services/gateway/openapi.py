"""One OpenAPI document for port 8000: the gateway's own routes plus the users and
templates APIs it fronts, read from those services so the schema never drifts."""

from __future__ import annotations

import importlib.resources
from typing import Any

import httpx
import structlog
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from herald.kit.clients import ServiceClient

log = structlog.get_logger(__name__)
_OWN = ("/health", "/ready", "/metrics")
# Operations anyone may call: no credentials in the document for them.
PUBLIC = (
    *_OWN,
    "/api/v1/auth/login",
    "/api/v1/push/vapid_public_key",
    "/api/v1/unsubscribe/{token}",
)


async def _upstream(client: ServiceClient) -> dict[str, Any] | None:
    try:
        response = await client.http.get("/openapi.json")
        response.raise_for_status()
        spec: dict[str, Any] = response.json()
        return spec
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("openapi.upstream_unavailable", service=client.name, error=str(exc))
        return None


def router(app: FastAPI, upstreams: list[ServiceClient]) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    merged: dict[str, Any] = {}

    @r.get("/openapi.json")
    async def openapi() -> JSONResponse:
        if merged:
            return JSONResponse(merged)
        spec = app.openapi()
        complete = True
        for client in upstreams:
            other = await _upstream(client)
            if other is None:
                complete = False
                continue
            for path, item in other.get("paths", {}).items():
                if not path.startswith(_OWN):
                    spec["paths"].setdefault(path, item)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in other.get("components", {}).get("schemas", {}).items():
                schemas.setdefault(name, schema)
        spec.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (hk_…) or a user token from /api/v1/auth/login",
            }
        }
        spec["security"] = [{"bearer": []}]
        for path in PUBLIC:
            for operation in spec["paths"].get(path, {}).values():
                operation["security"] = []
        if complete:
            merged.update(spec)
        return JSONResponse(spec)

    # The pages' scripts and styles are served by Herald itself (the fastapi-offline
    # package ships them): the docs work on a machine without internet, and no page
    # loads code from a CDN.
    @r.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=_TITLE,
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_ASSETS}/favicon.png",
        )

    @r.get("/redoc")
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=_TITLE,
            redoc_js_url=f"{_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    return r


_ASSETS = "/docs/assets"
_TITLE = "Herald API"


def mount_assets(app: FastAPI) -> None:
    folder = importlib.resources.files("fastapi_offline") / "static"
    app.mount(_ASSETS, StaticFiles(directory=str(folder)), name="docs-assets")
