"""The FastAPI app every service starts from: envelope errors, limits, metrics, health."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.kit import errors, health, tracing
from herald.kit.envelope import failure
from herald.kit.metrics import HTTP_REQUESTS

REQUEST_ID_HEADER = b"x-request-id"
# The address of the client the gateway forwards for, set by the gateway alone (a
# client's own is dropped): login throttles by it behind the proxy.
CLIENT_ADDRESS_HEADER = "x-herald-client-address"
_BODY_METHODS = {"POST", "PUT", "PATCH"}
# Forms posted to Herald: one-click unsubscribe, the console's pages, Twilio's receipts.
_FORM_PATHS = ("/api/v1/unsubscribe", "/console/", "/api/v1/sms/status/twilio")
# Probes and scrapes are answered even when the service is at its limit.
_ALWAYS_PATHS = ("/health", "/ready", "/metrics")
# All of a request's header lines together; no credential or client needs more, and a
# request past it is answered 431 before anything reads a header (RFC 6585 §5).
MAX_HEADER_BYTES = 16 * 1024


class RequestGuard:
    """Refuses bodies that are too large (413) or not JSON (415), and any request beyond
    ``max_in_flight`` in progress (503), before any route runs; tags every request with
    a correlation id and records its latency."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        max_body_bytes: int,
        max_in_flight: int,
        larger_bodies: Mapping[str, int] | None = None,
        long_lived: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.service = service
        self.max_body = max_body_bytes
        # Paths whose bodies may be larger (a batch of notifications), by a regular
        # expression the whole path matches.
        self.larger_bodies = [(re.compile(p), n) for p, n in (larger_bodies or {}).items()]
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        # Paths whose requests stay open (a feed's event stream): each route bounds
        # its own, and they count against neither the limit nor each other.
        self.long_lived = [re.compile(p) for p in long_lived]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(REQUEST_ID_HEADER, b"").decode("latin-1")[:128] or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER, request_id.encode("latin-1")),
                ]
            await send(message)

        incoming = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items()}
        with tracing.tracer.start_as_current_span(
            f"{scope['method']} {scope['path']}",
            context=tracing.extract(incoming),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "herald.service": self.service},
        ) as span:
            try:
                limit = self._body_limit(scope["path"])
                refusal = self._refuse(scope, headers, limit)
                if refusal is not None:
                    await refusal(scope, receive, send_with_id)
                    return
                counted = not any(p.fullmatch(scope["path"]) for p in self.long_lived)
                self.in_flight += counted
                try:
                    await self.app(scope, self._limited(receive, limit), send_with_id)
                finally:
                    self.in_flight -= counted
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                span.update_name(f"{scope['method']} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                HTTP_REQUESTS.labels(self.service, scope["method"], route, str(status)).observe(
                    time.perf_counter() - started
                )
                structlog.contextvars.unbind_contextvars("request_id")

    def _refuse(self, scope: Scope, headers: Mapping[bytes, bytes], limit: int) -> ASGIApp | None:
        """``limit``: the most body bytes this request's path takes."""
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            return JSONResponse(
                failure(f"request headers are larger than {MAX_HEADER_BYTES} bytes"),
                status_code=431,
            )
        if self.in_flight >= self.max_in_flight and not scope["path"].startswith(_ALWAYS_PATHS):
            return JSONResponse(
                failure(
                    f"{self.service} has {self.in_flight} requests in progress, its limit; "
                    "retry in a moment"
                ),
                status_code=503,
                headers={"Retry-After": "1"},
            )
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return JSONResponse(
                failure(f"request body is larger than {limit} bytes"), status_code=413
            )
        if scope["method"] in _BODY_METHODS and (length is None or length != b"0"):
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            form_ok = scope["path"].startswith(_FORM_PATHS)
            if (
                ctype != b"application/json"
                and not (
                    form_ok
                    and ctype in (b"application/x-www-form-urlencoded", b"multipart/form-data", b"")
                )
                and not (ctype == b"" and length is None)
            ):
                return JSONResponse(
                    failure("Content-Type must be application/json"), status_code=415
                )
        return None

    def _body_limit(self, path: str) -> int:
        return next((n for p, n in self.larger_bodies if p.fullmatch(path)), self.max_body)

    def _limited(self, receive: Receive, max_body: int) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_body:
                    # A chunked body that grows past the limit: stop reading it.
                    raise _TooLarge(max_body)
            return message

        return wrapped


class _TooLarge(Exception):
    pass


def on_drain(app: FastAPI, end: Callable[[], None]) -> None:
    """``end`` runs when the server stops taking connections, before it waits for the
    requests in progress: what never ends by itself (an event stream) ends then, and
    its client reconnects to another replica, instead of holding the shutdown."""
    app.state.drain = [*getattr(app.state, "drain", []), end]


def drain(app: FastAPI) -> None:
    for end in getattr(app.state, "drain", []):
        end()


def create_app(
    *,
    service: str,
    title: str,
    checks: Mapping[str, health.Check],
    max_body_bytes: int,
    max_in_flight: int = 512,
    larger_bodies: Mapping[str, int] | None = None,
    long_lived: Sequence[str] = (),
    details: Callable[[], dict[str, Any]] | None = None,
    **kwargs: Any,
) -> FastAPI:
    app = FastAPI(title=title, **kwargs)
    errors.install(app)

    @app.exception_handler(_TooLarge)
    async def _too_large(_: Any, exc: Exception) -> JSONResponse:
        return JSONResponse(
            failure(f"request body is larger than {exc.args[0]} bytes"), status_code=413
        )

    app.include_router(health.router(service, checks, details))
    app.add_middleware(
        RequestGuard,
        service=service,
        max_body_bytes=max_body_bytes,
        max_in_flight=max_in_flight,
        larger_bodies=larger_bodies,
        long_lived=long_lived,
    )
    return app
