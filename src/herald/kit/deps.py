"""FastAPI dependencies shared by the services: the request's unit of work and its caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit import auth
from herald.kit.db import unit_of_work


async def service_context(request: Request) -> Any:
    """The service's own context object, set on ``app.state.ctx`` when it was built.

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency on a
    worker thread, a thread hand-off on every request."""
    return request.app.state.ctx


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.sessions) as session:
        yield session


async def _principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> auth.Principal:
    return auth.verify_credential(request.app.state.keys, auth.bearer(authorization))


# "function" scope: the transaction commits before the response leaves, so a 201 or
# 202 always means the row is stored.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
PrincipalDep = Annotated[auth.Principal, Depends(_principal)]
