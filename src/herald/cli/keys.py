"""``herald keys``: API keys, straight in the gateway's database; ``herald vapid``."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from herald.cli.terminal import console, fail
from herald.config import Settings

app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")
vapid_app = typer.Typer(no_args_is_help=True, help="Web Push (VAPID) keys.")
SCOPES = ("admin", "send", "status")


def _settings() -> Settings:
    """The settings for the database alone: these commands sign nothing, so they need
    no HERALD_JWT_SECRET (one set in the environment is still read and checked)."""
    return Settings(jwt_secret=os.environ.get("HERALD_JWT_SECRET") or secrets.token_hex(32))


def _gateway_url() -> str:
    url = _settings().database_url_for("gateway")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        # Opening it would make an empty database (and its folder) wherever this runs.
        fail(f"no database at {parsed.database}: run `herald migrate`, or set HERALD_DATABASE_URL")
    return url


@asynccontextmanager
async def _gateway_session(url: str) -> AsyncIterator[AsyncSession]:
    from herald.adapters.db.engine import create_engine
    from herald.kit.db import sessionmaker, unit_of_work

    engine = create_engine(url)
    try:
        async with unit_of_work(sessionmaker(engine)) as session:
            yield session
    finally:
        await engine.dispose()


def _print(work: Callable[[AsyncSession], Awaitable[Any]]) -> None:
    url = _gateway_url()

    async def run() -> Any:
        async with _gateway_session(url) as session:
            return await work(session)

    console.print_json(json.dumps(asyncio.run(run())))


@app.command("create")
def create(
    name: Annotated[str, typer.Option()],
    scope: Annotated[list[str] | None, typer.Option(help="admin, send, status")] = None,
) -> None:
    """Create an API key; the key is shown once."""
    from herald.services.gateway import keys

    scopes = scope or ["send"]
    bad = set(scopes) - set(SCOPES)
    if bad:
        raise typer.BadParameter(f"unknown scope(s): {', '.join(sorted(bad))}")

    async def work(session: AsyncSession) -> dict[str, Any]:
        row, key = await keys.create(session, name=name, scopes=scopes)
        return {"id": str(row.id), "key": key, "scopes": row.scopes}

    _print(work)


@app.command("revoke")
def revoke(key_id: str) -> None:
    """Revoke an API key by its id."""
    from herald.services.gateway import keys

    try:
        chosen = uuid.UUID(key_id)
    except ValueError:
        raise typer.BadParameter(f"{key_id!r} is not a key id (a UUID from `herald keys list`)")

    async def work(session: AsyncSession) -> dict[str, Any]:
        row = await keys.revoke(session, chosen)
        return {"id": str(row.id), "revoked_at": str(row.revoked_at)}

    _print(work)


@app.command("list")
def listing() -> None:
    """List API keys (never their values)."""
    from herald.services.gateway.repositories import ApiKeyRepository

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [
            {
                "id": str(k.id),
                "name": k.name,
                "prefix": k.prefix,
                "scopes": k.scopes,
                "revoked": k.revoked_at is not None,
            }
            for k in await ApiKeyRepository(session).all()
        ]

    _print(work)


@app.command("derive")
def derive(
    worker: Annotated[str, typer.Argument(help="email_worker or push_worker")],
) -> None:
    """Print HERALD_SIGNING_KEYS for a worker: only the keys it signs with, derived from
    HERALD_JWT_SECRET, so that the worker need not hold the secret itself."""
    from herald.kit.auth import WORKER_PURPOSES, Keys

    if worker not in WORKER_PURPOSES:
        raise typer.BadParameter(f"one of: {', '.join(WORKER_PURPOSES)}")
    secret = os.environ.get("HERALD_JWT_SECRET")
    if not secret:
        fail("HERALD_JWT_SECRET must be set: the keys are derived from it")
    Settings(jwt_secret=secret)  # the same checks as at start
    typer.echo(f"HERALD_SIGNING_KEYS={Keys(secret).subset(WORKER_PURPOSES[worker])}")


@vapid_app.command("generate")
def vapid_generate() -> None:
    """Print a new VAPID private key (PEM) for HERALD_VAPID_PRIVATE_KEY."""
    from herald.devmode.secrets import generate_vapid_pem

    typer.echo(generate_vapid_pem())
