"""Chat messages: the push worker's third mode (``herald worker chat``), on the same
delivery engine, database and ledger; to each of the recipient's chats (Slack,
Discord, Teams), as push goes to each of their devices."""

from __future__ import annotations

import json
from typing import Any

from herald.delivery import devices
from herald.domain.errors import DeliveryError
from herald.domain.messages import Device, SendNotification
from herald.domain.statuses import Channel
from herald.kit.clients import ServiceClient
from herald.kit.devices import CHAT_KINDS
from herald.ports import ChatRequest, ChatTransport


class ChatSender:
    channel = Channel.CHAT

    def __init__(self, transport: ChatTransport, users: ServiceClient) -> None:
        self._transport = transport
        self._users = users

    @staticmethod
    def _request(device: Device, text: str = "", blocks: list[Any] | None = None) -> ChatRequest:
        return ChatRequest(device.kind, device.webhook_url or "", text, blocks)

    def target(self, message: SendNotification) -> str:
        for device in message.recipient.devices:
            if device.kind in CHAT_KINDS:
                return self._transport.target(self._request(device))
        return "none"

    async def send(self, message: SendNotification, content: dict[str, Any]) -> str | None:
        # Read once, and refused before anything is posted when they are not JSON.
        text, blocks = content.get("text") or "", _blocks(content.get("blocks"))

        async def one(device: Device) -> str | None:
            return await self._transport.send(self._request(device, text, blocks))

        async def gone(device: Device, reason: str) -> None:
            await devices.forget(self._users, message, device, reason)

        mine = [d for d in message.recipient.devices if d.kind in CHAT_KINDS]
        return await devices.to_each(mine, one, gone, none="user has no chat to send to")


def _blocks(rendered: str | None) -> list[Any] | None:
    """The blocks a template rendered: a JSON array, or the message cannot go."""
    if not rendered or not rendered.strip():
        return None
    try:
        found = json.loads(rendered)
    except ValueError as exc:
        raise DeliveryError(f"the template's blocks are not JSON: {exc}", permanent=True)
    if not isinstance(found, list):
        raise DeliveryError("the template's blocks must render to a JSON array", permanent=True)
    return found
