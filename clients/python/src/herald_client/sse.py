"""Server-Sent Events read from the lines of an answer (the WHATWG HTML standard's
event stream format): what Herald's feed stream sends, for this client and for
anyone reading a stream with their own HTTP library."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    data: str
    id: str | None = None


async def events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """Each event as its blank line ends it; comments (keep-alives) and events without
    data are passed over."""
    name, event_id = "message", None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield Event(name, "\n".join(data), event_id)
            name, data, event_id = "message", [], None
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
