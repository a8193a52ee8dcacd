"""Delivers one push notification to each of the user's valid devices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from herald.delivery import devices
from herald.domain.errors import DeliveryError
from herald.domain.messages import Device, SendNotification
from herald.domain.statuses import Channel
from herald.kit.clients import ServiceClient
from herald.kit.devices import PUSH_KINDS
from herald.ports import PushRequest, PushTransport


def urgency(priority: int) -> str:
    """RFC 8030 §5.3 urgency from the notification's 0-9 priority."""
    if priority >= 8:
        return "high"
    if priority >= 4:
        return "normal"
    return "low" if priority >= 2 else "very-low"


class PushSender:
    channel = Channel.PUSH

    def __init__(
        self, transports: Mapping[str, PushTransport], users: ServiceClient, *, ttl: int = 24 * 3600
    ) -> None:
        self._transports = transports
        self._users = users
        self._ttl = ttl

    def _request(
        self, message: SendNotification, device: Device, content: dict[str, Any]
    ) -> PushRequest:
        payload = {k: content.get(k) for k in ("title", "body", "image", "link") if content.get(k)}
        payload["data"] = {
            "notification_id": str(message.notification_id),
            "meta": message.variables.get("meta"),
        }
        return PushRequest(
            kind=device.kind,
            token=device.token,
            subscription=device.subscription,
            payload=payload,
            ttl=self._ttl,
            urgency=urgency(message.priority),
            topic=message.topic,
        )

    def _transport(self, device: Device) -> PushTransport:
        transport = self._transports.get(device.kind)
        if transport is None:
            raise DeliveryError(f"no {device.kind} push transport is configured", permanent=True)
        return transport

    def target(self, message: SendNotification) -> str:
        for device in message.recipient.devices:
            transport = self._transports.get(device.kind) if device.kind in PUSH_KINDS else None
            if transport is not None:
                return transport.target(self._request(message, device, {}))
        return "none"

    async def send(self, message: SendNotification, content: dict[str, Any]) -> str | None:
        """Delivered when at least one of the recipient's push devices took it."""

        async def one(device: Device) -> str | None:
            return await self._transport(device).send(self._request(message, device, content))

        async def gone(device: Device, reason: str) -> None:
            await devices.forget(self._users, message, device, reason)

        mine = [d for d in message.recipient.devices if d.kind in PUSH_KINDS]
        return await devices.to_each(mine, one, gone, none="user has no valid push device")
