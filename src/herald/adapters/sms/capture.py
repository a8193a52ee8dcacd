"""``herald dev``'s SMS: kept for the dev inbox, sent nowhere."""

from __future__ import annotations

from herald.adapters.capture import CaptureStore
from herald.domain.sms import segments
from herald.ports import SmsRequest


class CaptureSms:
    def __init__(self, store: CaptureStore) -> None:
        self._store = store

    @property
    def target(self) -> str:
        return "dev-capture"

    async def send(self, request: SmsRequest) -> str | None:
        parts = segments(request.body)
        record = {
            "to": request.to,
            "body": request.body,
            "encoding": parts.encoding,
            "parts": parts.parts,
        }
        return await self._store.keep(
            channel="sms", recipient=request.to, subject=request.body[:80], record=record
        )

    async def close(self) -> None:
        return None
