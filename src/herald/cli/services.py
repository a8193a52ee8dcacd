"""Running Herald's processes: one service, one worker, migrations, health."""

from __future__ import annotations

import asyncio
import socket
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from herald.cli.terminal import console, fail
from herald.config import Settings
from herald.kit.logging import configure

if TYPE_CHECKING:
    from fastapi import FastAPI

PORTS = {
    "gateway": 8000,
    "users": 8001,
    "templates": 8002,
    "email_worker": 8003,
    "push_worker": 8004,
    "webhook_worker": 8005,
    "sms_worker": 8006,
    "chat_worker": 8007,
    "in_app_worker": 8008,
}


class ServiceName(StrEnum):
    gateway = "gateway"
    users = "users"
    templates = "templates"


class WorkerName(StrEnum):
    email = "email"
    push = "push"
    webhooks = "webhooks"
    sms = "sms"
    chat = "chat"
    in_app = "in_app"


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says where Herald is: a port held by
    another server is a clear error, never a banner that points at that server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port} ({exc.strerror}): stop what holds it, or use --port")
    sock.listen(2048)
    return sock


def run(asgi: FastAPI, sock: socket.socket, settings: Settings) -> None:
    # Imported here, as the web stack is by whatever builds ``asgi``: every other
    # command (keys, send, status, dlq) starts about a second sooner without it.
    import uvicorn

    config = uvicorn.Config(
        asgi,
        lifespan="on",
        access_log=False,
        log_level=settings.log_level.lower(),
        loop="auto",
        # No endpoint speaks WebSocket: without this uvicorn loads a WebSocket library
        # into every process.
        ws="none",
        timeout_graceful_shutdown=10,
    )
    from herald.kit.app import drain

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            drain(asgi)  # event streams end first, rather than hold the wait below
            await super().shutdown(sockets)

    Server(config).run(sockets=[sock])


def serve(
    service: ServiceName,
    host: Annotated[str, typer.Option()] = "0.0.0.0",
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run one service (gateway, users or templates), configured from the environment."""
    _run_service(service.value, host, port)


def worker(
    kind: WorkerName,
    host: Annotated[str, typer.Option()] = "0.0.0.0",
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the email, push, webhook, SMS, chat or in-app worker (its HTTP port serves health
    and metrics only)."""
    name = "webhook_worker" if kind is WorkerName.webhooks else f"{kind.value}_worker"
    _run_service(name, host, port)


def _run_service(name: str, host: str, port: int | None) -> None:
    from herald.bootstrap import service_app

    settings = Settings()
    configure(json=settings.log_json, level=settings.log_level)
    app = service_app(name, settings)
    run(app, bind(host, port or settings.port or PORTS[name]), settings)


def migrate(
    service: Annotated[list[str] | None, typer.Option(help="Only these services")] = None,
) -> None:
    """Bring every database this process is configured for to the latest schema."""
    from herald.bootstrap import SERVICES
    from herald.bootstrap import migrate as run_migrations

    settings = Settings()
    chosen = tuple(service or SERVICES)
    unknown = set(chosen) - set(SERVICES)
    if unknown:
        raise typer.BadParameter(f"unknown service(s): {', '.join(sorted(unknown))}")
    asyncio.run(run_migrations(settings, chosen))
    console.print(f"migrated: {', '.join(chosen)}")


def healthcheck(
    port: Annotated[int | None, typer.Option(envvar="HERALD_PORT")] = None,
) -> None:
    """Exit 0 when the service on this machine answers /health (for container health)."""
    from herald.cli.health import GATEWAY_PORT, probe

    raise typer.Exit(probe(port or GATEWAY_PORT))
