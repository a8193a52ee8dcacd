"""``herald healthcheck`` without the rest of the command line: a container runs it
every few seconds, and importing the full CLI (typer, FastAPI, uvicorn) costs about
two seconds of CPU each time, which on a small machine running several services
starves the services it checks. This path imports nothing but the standard library."""

from __future__ import annotations

import os
import urllib.request

GATEWAY_PORT = 8000


def probe(port: int) -> int:
    """0 when the service on this machine's ``port`` answers /health, else 1."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as answer:
            return 0 if answer.status == 200 else 1
    except OSError:
        return 1


def quick(argv: list[str]) -> int | None:
    """The exit code of ``herald healthcheck [--port N]``, or None for any other command
    line (which the full CLI handles, ``--help`` included)."""
    if not argv or argv[0] != "healthcheck":
        return None
    rest = argv[1:]
    if rest and rest[0].startswith("--port="):
        rest = ["--port", rest[0].removeprefix("--port="), *rest[1:]]
    if rest == []:
        port = os.environ.get("HERALD_PORT") or str(GATEWAY_PORT)
    elif len(rest) == 2 and rest[0] == "--port":
        port = rest[1]
    else:
        return None
    return probe(int(port)) if port.isdigit() else None
