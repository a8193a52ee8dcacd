"""Push in ``herald dev``: every push goes to the capture store and shows in the inbox."""

from __future__ import annotations

import asyncio
import json

from herald.adapters.capture import CaptureStore
from herald.ports import PushRequest


class CapturePushTransport:
    def __init__(self, store: CaptureStore) -> None:
        self._store = store

    def target(self, request: PushRequest) -> str:
        return "capture"

    async def send(self, request: PushRequest) -> str | None:
        address = request.token or str((request.subscription or {}).get("endpoint", ""))
        raw = json.dumps(
            {
                "kind": request.kind,
                "to": address,
                "payload": request.payload,
                "ttl": request.ttl,
                "urgency": request.urgency,
                "topic": request.topic,
            },
            indent=2,
        ).encode()
        item = await asyncio.to_thread(
            self._store.add,
            channel="push",
            recipient=f"{request.kind}:{address[:60]}",
            subject=str(request.payload.get("title", "")),
            raw=raw,
        )
        return f"captured by herald dev as inbox item {item}"

    async def close(self) -> None:
        return None
