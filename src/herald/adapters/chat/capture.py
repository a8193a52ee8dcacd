"""``herald dev``'s chat messages: kept for the dev inbox, posted nowhere."""

from __future__ import annotations

from herald.adapters.capture import CaptureStore
from herald.adapters.chat.webhooks import payload
from herald.ports import ChatRequest


class CaptureChat:
    def __init__(self, store: CaptureStore) -> None:
        self._store = store

    def target(self, request: ChatRequest) -> str:
        return "dev-capture"

    async def send(self, request: ChatRequest) -> str | None:
        record = {
            "kind": request.kind,
            "to": request.webhook_url,
            "text": request.text,
            "blocks": request.blocks,
            "payload": payload(request),
        }
        recipient = f"{request.kind}:{request.webhook_url[:60]}"
        return await self._store.keep(
            channel="chat", recipient=recipient, subject=request.text[:80], record=record
        )

    async def close(self) -> None:
        return None
