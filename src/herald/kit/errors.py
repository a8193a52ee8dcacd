"""One place that turns every failure into the envelope with a real status code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from herald.domain.errors import HeraldError
from herald.kit.envelope import failure
from herald.ports import RowRefused, StoreUnavailable

log = structlog.get_logger(__name__)


def _describe(error: dict[str, Any]) -> str:
    loc = list(error.get("loc", ()))
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]  # where the field was sent, not part of its name
    where = ".".join(str(p) for p in loc)
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown field '{where}'"
    if kind == "missing":
        return f"missing field '{where}'"
    if kind == "json_invalid":
        return "request body is not valid JSON"
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid"))


def describe_all(errors: Sequence[Any]) -> str:
    """Pydantic's errors as one line naming each field, as every 422 says them."""
    return "; ".join(_describe(e) for e in errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(HeraldError)
    async def _herald(_: Request, exc: HeraldError) -> JSONResponse:
        return JSONResponse(
            failure(exc.error, exc.message, exc.data),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_describe(e) for e in exc.errors()]
        return JSONResponse(
            failure("; ".join(problems), "the request is not valid", {"errors": problems}),
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            failure(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return JSONResponse(failure("the request conflicts with existing data"), status_code=409)

    @app.exception_handler(DataError)
    @app.exception_handler(RowRefused)
    @app.exception_handler(OverflowError)
    async def _data(_: Request, exc: Exception) -> JSONResponse:
        # A value the database cannot hold (a number past its column's range): the
        # request's fault, never a reason to retry it.
        log.info("http.value_out_of_range", error=str(exc).splitlines()[0][:300])
        return JSONResponse(failure("a value in the request is out of range"), status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(DBAPIError)
    # The hot path's statements on PostgreSQL run on the driver itself; its adapter
    # turns the driver's own errors into this one.
    @app.exception_handler(StoreUnavailable)
    @app.exception_handler(OSError)
    async def _database(_: Request, exc: Exception) -> JSONResponse:
        # The database (or another dependency) is unreachable: say so quickly, 503.
        log.warning("http.dependency_unavailable", error=str(exc).splitlines()[0][:300])
        return JSONResponse(
            failure("a dependency is unavailable, try again shortly"),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled_error")
        return JSONResponse(failure("internal error"), status_code=500)
