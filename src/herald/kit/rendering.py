"""Rendering from an event loop: a template with loops or macros may take up to the
sandbox's time budget (domain/sandbox.py), so it renders in a thread; the rest, most
notifications, render in place, which costs less than the hop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from herald.domain import templating


async def render_channel(
    channel: str, fields: Mapping[str, str | None], variables: Mapping[str, Any]
) -> dict[str, str | None]:
    if templating.may_run_long(channel, fields):
        return await asyncio.to_thread(templating.render_channel, channel, fields, variables)
    return templating.render_channel(channel, fields, variables)
