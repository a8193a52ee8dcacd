"""Sending to each of a recipient's devices of one channel (push devices, chats), said
once for every such channel: delivered when one device took it; a device its service
calls gone is invalidated (or, given directly, suppressed); otherwise the most hopeful
failure is raised (a transient one, after the longest wait asked for)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import structlog

from herald.domain.errors import DeliveryError, DeviceGone
from herald.domain.messages import Device, SendNotification
from herald.kit.clients import ServiceClient

log = structlog.get_logger(__name__)


def address(device: Device) -> str:
    return device.token or device.webhook_url or (device.subscription or {}).get("endpoint", "")


async def forget(
    users: ServiceClient, message: SendNotification, device: Device, reason: str
) -> None:
    """A device its service says is gone: the user's is marked invalid; one given
    directly goes on the suppression list, so that nobody sends to it again."""
    if message.recipient.user_id is None:
        response = await users.post_json(
            "/internal/suppressions",
            {
                "channel": message.channel.value,
                "address": address(device),
                "reason": f"device gone: {reason}",
            },
        )
    else:
        response = await users.post_json(
            f"/internal/devices/{device.id}/invalidate", {"reason": reason}
        )
    if response.status_code >= 500:
        raise DeliveryError("users service could not invalidate a device", permanent=False)
    log.info("notifications.device_gone", device_id=str(device.id), reason=reason)


async def to_each(
    devices: Iterable[Device],
    send: Callable[[Device], Awaitable[str | None]],
    gone: Callable[[Device, str], Awaitable[None]],
    *,
    none: str,
) -> str | None:
    """``none``: why nothing was sent when there is no device at all."""
    delivered, failures, answers = 0, list[DeliveryError](), list[str]()
    for device in devices:
        try:
            answer = await send(device)
            delivered += 1
            if answer:
                answers.append(answer)
        except DeviceGone as exc:
            await gone(device, exc.error)
            failures.append(exc)
        except DeliveryError as exc:
            failures.append(exc)
    if delivered:
        return "; ".join(answers)[:1000] or None
    if not failures:
        raise DeliveryError(none, permanent=True)
    transient = [f for f in failures if not f.permanent]
    if transient:
        waits = [f.retry_after for f in transient if f.retry_after is not None]
        raise DeliveryError(
            "; ".join(f.error for f in transient),
            permanent=False,
            retry_after=max(waits) if waits else None,
        )
    raise DeliveryError("; ".join(f.error for f in failures), permanent=True)
