"""Delivers one push notification to each of the user's valid devices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from herald.domain.errors import DeliveryError, DeviceGone
from herald.domain.messages import Device, SendNotification
from herald.domain.statuses import Channel
from herald.kit.clients import ServiceClient
from herald.ports import PushRequest, PushTransport

log = structlog.get_logger(__name__)


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
            transport = self._transports.get(device.kind)
            if transport is not None:
                return transport.target(self._request(message, device, {}))
        return "none"

    async def _invalidate(self, message: SendNotification, device: Device, reason: str) -> None:
        if message.recipient.user_id is None:  # given directly: its address is suppressed
            address = device.token or (device.subscription or {}).get("endpoint", "")
            response = await self._users.post_json(
                "/internal/suppressions",
                {"channel": "push", "address": address, "reason": f"device gone: {reason}"},
            )
        else:
            response = await self._users.post_json(
                f"/internal/devices/{device.id}/invalidate", {"reason": reason}
            )
        if response.status_code >= 500:
            raise DeliveryError("users service could not invalidate a device", permanent=False)
        log.info(
            "notifications.push.device_not_registered", device_id=str(device.id), reason=reason
        )

    async def send(self, message: SendNotification, content: dict[str, Any]) -> str | None:
        """Delivered when at least one device took it; devices that are gone are
        invalidated; otherwise the most hopeful failure (a transient one) is raised."""
        delivered, failures = 0, list[DeliveryError]()
        answers = []
        for device in message.recipient.devices:
            try:
                answer = await self._transport(device).send(self._request(message, device, content))
                delivered += 1
                if answer:
                    answers.append(answer)
            except DeviceGone as exc:
                await self._invalidate(message, device, exc.error)
                failures.append(exc)
            except DeliveryError as exc:
                failures.append(exc)
        if delivered:
            return "; ".join(answers)[:1000] or None
        if not failures:
            raise DeliveryError("user has no valid push device", permanent=True)
        transient = [f for f in failures if not f.permanent]
        if transient:
            waits = [f.retry_after for f in transient if f.retry_after is not None]
            raise DeliveryError(
                "; ".join(f.error for f in transient),
                permanent=False,
                retry_after=max(waits) if waits else None,
            )
        raise DeliveryError("; ".join(f.error for f in failures), permanent=True)
