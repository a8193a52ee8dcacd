"""``herald users``: console admins, straight in the users service's database."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from pydantic import ValidationError

from herald.cli.keys import database_settings
from herald.cli.terminal import console, fail

app = typer.Typer(no_args_is_help=True, help="Console admins.")


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="What the admin signs in with")],
    name: Annotated[str, typer.Option()] = "Admin",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="HERALD_ADMIN_PASSWORD",
            help="At least 8 characters; asked for when not given",
        ),
    ] = "",
) -> None:
    """Make a user who may sign in to the console, or give an existing user the role
    (their password is left as it is)."""
    from herald.bootstrap import service_session
    from herald.services.users import admins

    try:
        body = admins.admin_body(email, password, name)
    except ValidationError as exc:
        fail("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors()))
    settings = database_settings("users")

    async def run() -> dict[str, object]:
        async with service_session(settings, "users") as session:
            user, made = await admins.ensure(session, body)
            return {"id": str(user.id), "email": user.email, "role": user.role, "created": made}

    console.print_json(json.dumps(asyncio.run(run())))
