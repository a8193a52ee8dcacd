"""``herald``: run the system, one service, migrations, keys, and send from a terminal."""

from __future__ import annotations

import importlib.metadata
import os
from typing import Annotated

import typer

from herald.cli import dev, dlq, keys, send, services, users
from herald.cli.terminal import explain, fail, misconfigured

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    # An error is one line that says what to do (main, below), never a traceback.
    pretty_exceptions_enable=False,
    help="Herald: email and push notifications you can host yourself.",
)
app.command()(dev.dev)
app.command()(services.serve)
app.command()(services.worker)
app.command()(services.migrate)
app.command()(services.healthcheck)
app.command()(send.send)
app.command()(send.status)
app.add_typer(keys.app, name="keys")
app.add_typer(keys.vapid_app, name="vapid")
app.add_typer(dlq.app, name="dlq")
app.add_typer(users.app, name="users")


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"herald {importlib.metadata.version('herald')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version")
    ] = False,
) -> None:
    """Herald: email and push notifications you can host yourself."""


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130)
    except Exception as exc:
        if os.environ.get("HERALD_DEBUG"):
            raise
        # A setting that cannot work is the operator's to fix: one line, not a traceback.
        message = misconfigured(exc)
        if message is not None:
            fail(f"configuration error: {message}", 2)
        fail(f"{explain(exc)} (HERALD_DEBUG=1 shows where)")
