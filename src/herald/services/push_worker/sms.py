"""Text messages: the push worker's second mode (``herald worker sms``), on the same
delivery engine, database and ledger; only the sender differs."""

from __future__ import annotations

from typing import Any

from herald.domain.errors import DeliveryError
from herald.domain.messages import SendNotification
from herald.domain.statuses import Channel
from herald.ports import SmsRequest, SmsTransport


class SmsSender:
    channel = Channel.SMS

    def __init__(self, transport: SmsTransport, *, status_callback: str | None = None) -> None:
        self._transport = transport
        # Where receipts go; the notification's id is added to it.
        self._callback = status_callback

    def target(self, message: SendNotification) -> str:
        return self._transport.target

    async def send(self, message: SendNotification, content: dict[str, Any]) -> str | None:
        phone = message.recipient.phone
        if not phone:
            raise DeliveryError("the recipient has no phone number", permanent=True)
        notification_id = str(message.notification_id)
        callback = f"{self._callback}?notification_id={notification_id}" if self._callback else None
        request = SmsRequest(
            to=phone,
            body=content.get("body") or "",
            reference=notification_id,
            status_callback=callback,
        )
        return await self._transport.send(request)
