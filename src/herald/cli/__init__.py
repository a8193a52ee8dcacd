"""The ``herald`` command (``main``); each file holds one group of its commands."""

from herald.cli.main import main

__all__ = ["main"]
