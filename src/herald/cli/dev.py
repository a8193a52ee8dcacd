"""``herald dev``: the whole system in one process, on embedded defaults."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from herald.cli.services import bind, run
from herald.cli.terminal import console, fail
from herald.config import dev_settings
from herald.kit.logging import configure


def _herald_command() -> str:
    """How this terminal runs herald: bare where it is on PATH, else by its path."""
    called = Path(sys.argv[0])
    if called.name == "herald" and shutil.which("herald") == str(called.resolve()):
        return "herald"
    return str(called) if called.name == "herald" else f"{sys.executable} -m herald"


def dev(
    port: Annotated[int, typer.Option(help="Port of the API")] = 8000,
    home: Annotated[Path, typer.Option(help="Where dev mode keeps its data")] = Path(".herald"),
) -> None:
    """Run the whole system in one process on embedded defaults (no server to install)."""
    from herald.bootstrap import dev_stack

    settings = dev_settings(home=home, public_url=f"http://127.0.0.1:{port}")
    configure(json=settings.log_json, level=settings.log_level)
    sock = bind("127.0.0.1", port)  # before the banner says where Herald is
    try:
        stack = dev_stack(settings)
    except OSError as exc:
        fail(str(exc))
    base = f"http://127.0.0.1:{port}"
    console.print(f"[bold]Herald dev[/bold] — everything in one process, data in {home}/")
    console.print(f"  API        {base}/api/v1/")
    console.print(f"  API docs   {base}/docs")
    console.print(f"  Dev inbox  {base}/dev/inbox")
    console.print(f"  Console    {base}/console/", markup=False)
    admin = stack.settings.bootstrap_admin_password
    if admin is not None:
        who = f"{stack.settings.bootstrap_admin_email} / {admin.get_secret_value()}"
        console.print(f"  Sign in    {who}", markup=False)
    if stack.smtp_capture_url is not None:
        console.print(f"  SMTP       {stack.smtp_capture_url} (captured, nothing leaves)")
    console.print(f"  API key    {stack.api_key}")
    command = f"{_herald_command()} send --api-key {stack.api_key} --email you@example.com"
    console.print(f"  Try it:    {command}", markup=False)
    run(stack.app, sock, settings)
