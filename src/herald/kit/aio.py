"""Waiting with a time limit, without losing a cancellation.

``asyncio.wait_for`` on Python 3.11 can swallow a cancel that arrives just as its
timeout fires (https://github.com/python/cpython/issues/86296), leaving a task that
was told to stop running for ever; ``asyncio.timeout`` does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(seconds: float, awaitable: Awaitable[T]) -> T | None:
    """``await awaitable``, or None once ``seconds`` have passed."""
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        return None
