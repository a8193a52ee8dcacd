"""What the herald command prints: one console, and one clear line for every error."""

from __future__ import annotations

import sys
from typing import NoReturn

from pydantic import ValidationError
from rich.console import Console

# soft_wrap: a command printed for copying is never broken across lines.
console = Console(soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Stop the command with one line on standard error."""
    print(f"herald: {message}", file=sys.stderr)
    raise SystemExit(code)


def misconfigured(exc: BaseException) -> str | None:
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


def explain(exc: BaseException) -> str:
    """One line for an error no command expected, naming what to do where it can."""
    import httpx
    from sqlalchemy.exc import DBAPIError

    from herald.domain.errors import HeraldError

    if isinstance(exc, HeraldError):
        return exc.error
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return f"cannot reach {exc.request.url.host}:{exc.request.url.port} ({exc})"
    if isinstance(exc, httpx.HTTPError):
        return f"the request failed: {exc}"
    if isinstance(exc, DBAPIError):
        text = str(exc.orig).splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        if "no such table" in text or "does not exist" in text:
            return f"the database has no schema yet ({text}): run `herald migrate` first"
        return f"the database refused: {text}"
    if isinstance(exc, OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
