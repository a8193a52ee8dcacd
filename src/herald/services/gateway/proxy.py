"""The gateway fronts the users and templates APIs, so a client needs only port 8000.

API keys are checked here and exchanged for a short-lived service token naming the
key's scopes; user tokens pass through untouched (the users service checks them).
"""

from __future__ import annotations

from urllib.parse import unquote

import httpx
from fastapi import APIRouter, Request, Response

from herald.config import API_KEY_PREFIX
from herald.domain.errors import HeraldError
from herald.kit import tracing
from herald.kit.app import CLIENT_ADDRESS_HEADER, REQUEST_ID_HEADER
from herald.kit.clients import ServiceClient
from herald.services.gateway.security import context

_HOP = {
    "host",
    "content-length",
    "connection",
    "authorization",
    "transfer-encoding",
    "keep-alive",
    "accept-encoding",
}
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _has_dot_segment(raw_path: str) -> bool:
    """True if the path, as sent or once decoded (%2e, %2f), holds a '.' or '..' segment."""
    return any(
        segment in (".", "..")
        for path in (raw_path, unquote(raw_path))
        for segment in path.replace("\\", "/").split("/")
    )


def router(users: ServiceClient, templates: ServiceClient) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    async def forward(request: Request, upstream: ServiceClient) -> Response:
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in _HOP and k.lower() != CLIENT_ADDRESS_HEADER
        }
        if request.client is not None:
            headers[CLIENT_ADDRESS_HEADER] = request.client.host
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip().startswith(API_KEY_PREFIX):
                who = await context(request).keys.verify(token.strip())
                authorization = "Bearer " + upstream.token(sorted(who.scopes), subject=who.subject)
            headers["authorization"] = authorization
        headers[REQUEST_ID_HEADER.decode()] = getattr(request.state, "request_id", "")
        headers.update(tracing.inject())
        # Forward the path and query as the client encoded them: decoding first would
        # turn %07 into a control character no URL may hold.
        target = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        if _has_dot_segment(target):
            # The HTTP client resolves "..", so /api/v1/templates/../../internal/...
            # would reach the service's internal routes (RFC 3986 §5.2.4).
            raise HeraldError(400, "the request path may not contain '.' or '..' segments")
        if request.url.query:
            target += "?" + request.url.query
        try:
            upstream_response = await upstream.http.request(
                request.method, target, content=await request.body(), headers=headers
            )
        except httpx.InvalidURL as exc:
            raise HeraldError(400, f"the request URL is not valid: {exc}")
        except httpx.HTTPError as exc:
            raise HeraldError.unavailable(f"the {upstream.name} service is unavailable ({exc})")
        passed = {
            k: v
            for k, v in upstream_response.headers.items()
            if k.lower() not in _HOP | {"content-encoding", REQUEST_ID_HEADER.decode()}
        }
        return Response(
            upstream_response.content, status_code=upstream_response.status_code, headers=passed
        )

    @r.api_route("/api/v1/users{rest:path}", methods=_METHODS)
    async def to_users(request: Request, rest: str) -> Response:
        return await forward(request, users)

    @r.api_route("/api/v1/auth{rest:path}", methods=_METHODS)
    async def to_auth(request: Request, rest: str) -> Response:
        return await forward(request, users)

    @r.api_route("/api/v1/suppressions{rest:path}", methods=_METHODS)
    async def to_suppressions(request: Request, rest: str) -> Response:
        return await forward(request, users)

    @r.api_route("/api/v1/templates{rest:path}", methods=_METHODS)
    async def to_templates(request: Request, rest: str) -> Response:
        return await forward(request, templates)

    return r
