"""Push in ``herald dev``: every push goes to the capture store and shows in the inbox."""

from __future__ import annotations

from herald.adapters.capture import CaptureStore
from herald.ports import PushRequest


class CapturePushTransport:
    def __init__(self, store: CaptureStore) -> None:
        self._store = store

    def target(self, request: PushRequest) -> str:
        return "capture"

    async def send(self, request: PushRequest) -> str | None:
        address = request.token or str((request.subscription or {}).get("endpoint", ""))
        record = {
            "kind": request.kind,
            "to": address,
            "payload": request.payload,
            "ttl": request.ttl,
            "urgency": request.urgency,
            "topic": request.topic,
        }
        recipient, subject = f"{request.kind}:{address[:60]}", str(request.payload.get("title", ""))
        return await self._store.keep(
            channel="push", recipient=recipient, subject=subject, record=record
        )

    async def close(self) -> None:
        return None
