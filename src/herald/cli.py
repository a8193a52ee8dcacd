"""``herald``: run the system, one service, migrations, keys, and send from a terminal."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from rich.console import Console

from herald.config import Settings, dev_settings
from herald.kit.logging import configure

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Herald: email and push notifications you can host yourself.",
)
keys_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")
vapid_app = typer.Typer(no_args_is_help=True, help="Web Push (VAPID) keys.")
app.add_typer(keys_app, name="keys")
app.add_typer(vapid_app, name="vapid")
dlq_app = typer.Typer(no_args_is_help=True, help="The dead letter queue (failed.queue).")
app.add_typer(dlq_app, name="dlq")
console = Console()

PORTS = {
    "gateway": 8000,
    "users": 8001,
    "templates": 8002,
    "email_worker": 8003,
    "push_worker": 8004,
}


class ServiceName(StrEnum):
    gateway = "gateway"
    users = "users"
    templates = "templates"


class WorkerName(StrEnum):
    email = "email"
    push = "push"


def _serve(asgi: FastAPI, host: str, port: int, settings: Settings) -> None:
    config = uvicorn.Config(
        asgi,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_level=settings.log_level.lower(),
        loop="auto",
        # No endpoint speaks WebSocket: without this uvicorn loads a WebSocket library
        # into every process.
        ws="none",
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Port of the API")] = 8000,
    home: Annotated[Path, typer.Option(help="Where dev mode keeps its data")] = Path(".herald"),
) -> None:
    """Run the whole system in one process on embedded defaults (no server to install)."""
    from herald.devmode.runner import build

    settings = dev_settings(home=home, public_url=f"http://127.0.0.1:{port}")
    configure(json=settings.log_json, level=settings.log_level)
    stack = build(settings)
    base = f"http://127.0.0.1:{port}"
    console.print(f"[bold]Herald dev[/bold] — everything in one process, data in {home}/")
    console.print(f"  API        {base}/api/v1/")
    console.print(f"  API docs   {base}/docs")
    console.print(f"  Dev inbox  {base}/dev/inbox")
    if stack.smtp_capture is not None:
        console.print(f"  SMTP       {stack.smtp_capture.url} (captured, nothing leaves)")
    console.print(f"  API key    {stack.api_key}")
    console.print(f"  Try it:    herald send --api-key {stack.api_key} --email you@example.com")
    _serve(stack.app, "127.0.0.1", port, settings)


@app.command()
def serve(
    service: ServiceName,
    host: Annotated[str, typer.Option()] = "0.0.0.0",
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run one service (gateway, users or templates), configured from the environment."""
    from herald.bootstrap import service_app

    settings = Settings()
    configure(json=settings.log_json, level=settings.log_level)
    _serve(
        service_app(service.value, settings),
        host,
        port or settings.port or PORTS[service.value],
        settings,
    )


@app.command()
def worker(
    kind: WorkerName,
    host: Annotated[str, typer.Option()] = "0.0.0.0",
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the email or push worker (its HTTP port serves health and metrics only)."""
    from herald.bootstrap import service_app

    settings = Settings()
    configure(json=settings.log_json, level=settings.log_level)
    name = f"{kind.value}_worker"
    _serve(service_app(name, settings), host, port or settings.port or PORTS[name], settings)


@app.command()
def migrate(
    service: Annotated[list[str] | None, typer.Option(help="Only these services")] = None,
) -> None:
    """Bring every database this process is configured for to the latest schema."""
    from herald.bootstrap import SERVICES
    from herald.bootstrap import migrate as run

    settings = Settings()
    chosen = tuple(service or SERVICES)
    unknown = set(chosen) - set(SERVICES)
    if unknown:
        raise typer.BadParameter(f"unknown service(s): {', '.join(sorted(unknown))}")
    asyncio.run(run(settings, chosen))
    console.print(f"migrated: {', '.join(chosen)}")


async def _with_gateway_db(action: str, **kw: object) -> object:
    from herald.adapters.db.engine import create_engine
    from herald.kit.db import sessionmaker, unit_of_work
    from herald.services.gateway import keys

    settings = Settings()
    engine = create_engine(settings.database_url_for("gateway"))
    try:
        async with unit_of_work(sessionmaker(engine)) as session:
            if action == "create":
                scopes = [str(s) for s in kw["scopes"]]  # type: ignore[attr-defined]
                row, key = await keys.create(session, name=str(kw["name"]), scopes=scopes)
                return {"id": str(row.id), "key": key, "scopes": row.scopes}
            if action == "revoke":
                row = await keys.revoke(session, uuid.UUID(str(kw["key_id"])))
                return {"id": str(row.id), "revoked_at": str(row.revoked_at)}
            from herald.services.gateway.repositories import ApiKeyRepository

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
    finally:
        await engine.dispose()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option()],
    scope: Annotated[list[str] | None, typer.Option(help="admin, send, status")] = None,
) -> None:
    """Create an API key; the key is shown once."""
    scopes = scope or ["send"]
    bad = set(scopes) - {"admin", "send", "status"}
    if bad:
        raise typer.BadParameter(f"unknown scope(s): {', '.join(sorted(bad))}")
    console.print_json(
        json.dumps(asyncio.run(_with_gateway_db("create", name=name, scopes=scopes)))
    )


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key by its id."""
    console.print_json(json.dumps(asyncio.run(_with_gateway_db("revoke", key_id=key_id))))


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (never their values)."""
    console.print_json(json.dumps(asyncio.run(_with_gateway_db("list"))))


@vapid_app.command("generate")
def vapid_generate() -> None:
    """Print a new VAPID private key (PEM) for HERALD_VAPID_PRIVATE_KEY."""
    from herald.devmode.secrets import generate_vapid_pem

    typer.echo(generate_vapid_pem())


@app.command()
def send(
    api_key: Annotated[str, typer.Option(envvar="HERALD_API_KEY", help="An API key (hk_…)")],
    user_id: Annotated[str | None, typer.Option(help="An existing user's id")] = None,
    email: Annotated[
        str | None, typer.Option(help="Create (or reuse) a user with this email")
    ] = None,
    channel: Annotated[WorkerName, typer.Option()] = WorkerName.email,
    template: Annotated[str, typer.Option()] = "welcome",
    name: Annotated[str, typer.Option()] = "friend",
    link: Annotated[str, typer.Option()] = "https://example.com/start",
    request_id: Annotated[str | None, typer.Option()] = None,
    priority: Annotated[int, typer.Option(min=0, max=9)] = 5,
    api_url: Annotated[str, typer.Option(envvar="HERALD_API_URL")] = "http://127.0.0.1:8000",
    wait: Annotated[float, typer.Option(help="Seconds to wait for a final status")] = 10.0,
) -> None:
    """Send a notification through a running Herald and follow it to its final status."""
    from herald.sendcli import send_and_follow

    if user_id is None and email is None:
        raise typer.BadParameter("give --user-id, or --email to create a user for it")
    code = asyncio.run(
        send_and_follow(
            api_url=api_url,
            api_key=api_key,
            user_id=user_id,
            email=email,
            channel=channel.value,
            template=template,
            name=name,
            link=link,
            request_id=request_id or uuid.uuid4().hex,
            priority=priority,
            wait=wait,
            console=console,
        )
    )
    raise typer.Exit(code)


async def _with_broker(action: str, **options: object) -> list[dict[str, object]]:
    from dataclasses import asdict

    from herald import dlq
    from herald.bootstrap import open_broker

    broker = await open_broker(Settings())
    try:
        if action == "list":
            letters = await dlq.listing(broker, limit=int(str(options["limit"])))
        elif action == "replay":
            chosen = options.get("notification_id")
            letters = await dlq.replay(
                broker,
                limit=int(str(options["limit"])),
                notification_id=str(chosen) if chosen else None,
            )
        else:
            letters = await dlq.purge(broker, limit=int(str(options["limit"])))
    finally:
        await broker.close()
    return [asdict(letter) for letter in letters]


@dlq_app.command("list")
def dlq_list(limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100) -> None:
    """Show dead letters (they stay in the queue)."""
    console.print_json(json.dumps(asyncio.run(_with_broker("list", limit=limit))))


@dlq_app.command("replay")
def dlq_replay(
    notification_id: Annotated[str | None, typer.Option(help="Only this notification")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Send dead letters back to their work queue, with their attempts reset."""
    replayed = asyncio.run(_with_broker("replay", limit=limit, notification_id=notification_id))
    console.print_json(json.dumps(replayed))
    console.print(f"replayed {len(replayed)}")


@dlq_app.command("purge")
def dlq_purge(
    yes: Annotated[bool, typer.Option("--yes", help="Really drop them")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Drop dead letters for good."""
    if not yes:
        raise typer.BadParameter("purging drops messages for good: add --yes")
    dropped = asyncio.run(_with_broker("purge", limit=limit))
    console.print(f"purged {len(dropped)}")


@app.command()
def status(
    notification_id: str,
    api_key: Annotated[str, typer.Option(envvar="HERALD_API_KEY")],
    api_url: Annotated[str, typer.Option(envvar="HERALD_API_URL")] = "http://127.0.0.1:8000",
) -> None:
    """Show one notification's lifecycle: every status it went through, oldest first."""
    import httpx

    response = httpx.get(
        f"{api_url}/api/v1/notifications/{notification_id}",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    body = response.json()
    if response.status_code != 200:
        console.print(f"[red]{response.status_code}: {body.get('error')}[/red]")
        raise typer.Exit(1)
    data = body["data"]
    console.print(
        f"{data['notification_id']}  {data['notification_type']}  "
        f"{data['status']}  attempts={data['attempts']}"
    )
    for entry in data["history"]:
        error = f"  {entry['error']}" if entry.get("error") else ""
        console.print(f"  {entry['timestamp']}  {entry['status']}{error}")


@app.command()
def healthcheck(
    port: Annotated[int | None, typer.Option(envvar="HERALD_PORT")] = None,
) -> None:
    """Exit 0 when the service on this machine answers /health (for container health)."""
    import urllib.request

    url = f"http://127.0.0.1:{port or PORTS['gateway']}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            healthy = response.status == 200
    except OSError:
        healthy = False
    raise typer.Exit(0 if healthy else 1)


def _misconfigured(exc: BaseException) -> str | None:
    """The message of an error in the settings, or None for any other error."""
    if isinstance(exc, ValidationError):
        # A field's error is named by its variable; the settings' own checks name theirs.
        return "; ".join(
            f"HERALD_{str(e['loc'][0]).upper()}: {str(e['msg']).removeprefix('Value error, ')}"
            if e["loc"]
            else str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        )
    if isinstance(exc, ValueError) and str(exc).startswith("HERALD_"):
        return str(exc)
    return None


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except (ValidationError, ValueError) as exc:
        # A setting that cannot work is the operator's to fix: one line, not a traceback.
        message = _misconfigured(exc)
        if message is None:
            raise
        print(f"herald: configuration error: {message}", file=sys.stderr)
        sys.exit(2)
