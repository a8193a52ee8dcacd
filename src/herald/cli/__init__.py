"""The ``herald`` command (``main``); each file holds one group of its commands."""

from __future__ import annotations

import sys


def main() -> None:
    # The health check a container runs every few seconds skips the full CLI's imports.
    from herald.cli.health import quick

    code = quick(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    from herald.cli.main import main as run

    run()


__all__ = ["main"]
