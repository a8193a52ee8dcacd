"""``herald keys``: API keys, straight in the gateway's database; ``herald vapid``."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from herald.cli.terminal import console, fail
from herald.config import API_KEY_SCOPES, Settings

if TYPE_CHECKING:
    from herald.services.gateway.keys import KeyAdmin

app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")
vapid_app = typer.Typer(no_args_is_help=True, help="Web Push (VAPID) keys.")
SCOPES = API_KEY_SCOPES


def database_settings(service: str) -> Settings:
    """Settings for ``service``'s database, refused where it does not exist yet."""
    return _checked(_settings(), service)


def _settings() -> Settings:
    """The settings for the database alone: these commands sign nothing, so they need
    no HERALD_JWT_SECRET (one set in the environment is still read and checked)."""
    return Settings(jwt_secret=os.environ.get("HERALD_JWT_SECRET") or secrets.token_hex(32))


def _checked(settings: Settings, service: str = "gateway") -> Settings:
    from sqlalchemy.engine import make_url

    parsed = make_url(settings.database_url_for(service))
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        # Opening it would make an empty database (and its folder) wherever this runs.
        fail(f"no database at {parsed.database}: run `herald migrate`, or set HERALD_DATABASE_URL")
    return settings


def _print(work: Callable[[KeyAdmin], Awaitable[Any]]) -> None:
    from herald.bootstrap import key_admin

    settings = database_settings("gateway")

    async def run() -> Any:
        async with key_admin(settings) as admin:
            return await work(admin)

    console.print_json(json.dumps(asyncio.run(run())))


@app.command("create")
def create(
    name: Annotated[str, typer.Option()],
    scope: Annotated[list[str] | None, typer.Option(help="admin, send, status")] = None,
) -> None:
    """Create an API key; the key is shown once."""
    scopes = scope or ["send"]
    bad = set(scopes) - set(SCOPES)
    if bad:
        raise typer.BadParameter(f"unknown scope(s): {', '.join(sorted(bad))}")
    _print(lambda admin: admin.create(name=name, scopes=scopes))


@app.command("revoke")
def revoke(key_id: str) -> None:
    """Revoke an API key by its id."""
    try:
        chosen = uuid.UUID(key_id)
    except ValueError:
        raise typer.BadParameter(f"{key_id!r} is not a key id (a UUID from `herald keys list`)")
    _print(lambda admin: admin.revoke(chosen))


@app.command("list")
def listing() -> None:
    """List API keys (never their values)."""
    _print(lambda admin: admin.listing())


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
