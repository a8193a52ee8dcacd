"""A device as a client gives it (a push device, or a chat webhook): to register it
for a user, or to notify it directly (``to.device``). One schema for both, so that what
one route takes the other takes too."""

from __future__ import annotations

import binascii
import uuid
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator

from herald.domain import targets
from herald.domain.encoding import b64url_decode
from herald.kit.envelope import Input

FCM_TOKEN_PATTERN = r"^[A-Za-z0-9_:\-.]{20,4096}$"
FcmToken = Annotated[str, Field(pattern=FCM_TOKEN_PATTERN)]


class _Strict(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _b64url(value: str, size: int, name: str) -> str:
    try:
        raw = b64url_decode(value)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} is not base64url")
    if len(raw) != size or (name == "p256dh" and raw[0] != 4):
        raise ValueError(
            f"{name} must decode to {size} bytes"
            + (" (an uncompressed P-256 point)" if name == "p256dh" else "")
        )
    return value


class SubscriptionKeys(_Strict):
    p256dh: str
    auth: str

    @field_validator("p256dh")
    @classmethod
    def _p256dh(cls, v: str) -> str:
        return _b64url(v, 65, "p256dh")

    @field_validator("auth")
    @classmethod
    def _auth(cls, v: str) -> str:
        return _b64url(v, 16, "auth")


class Subscription(_Strict):
    endpoint: str = Field(max_length=2048)
    keys: SubscriptionKeys
    expirationTime: Any = None


class FcmDeviceIn(_Strict):
    kind: Literal["fcm"]
    token: FcmToken

    @property
    def address(self) -> str:
        return self.token

    def refused(self, *, allow_private: bool) -> str | None:
        return None  # a token, not a place Herald connects to


class WebPushDeviceIn(_Strict):
    kind: Literal["webpush"]
    subscription: Subscription

    @property
    def address(self) -> str:
        return self.subscription.endpoint

    def refused(self, *, allow_private: bool) -> str | None:
        """Why Herald may not post to this endpoint, naming the field, or None."""
        why = targets.check_endpoint(self.address, allow_private=allow_private)
        return None if why is None else f"subscription.endpoint: {why}"


class ChatDeviceIn(_Strict):
    """A chat: Slack's or Discord's incoming webhook, or a Teams workflow's URL."""

    kind: Literal["slack", "discord", "teams"]
    webhook_url: str = Field(min_length=8, max_length=2048)

    @property
    def address(self) -> str:
        return self.webhook_url

    def refused(self, *, allow_private: bool) -> str | None:
        """Why Herald may not post to this webhook, naming the field, or None."""
        why = targets.check_endpoint(self.address, allow_private=allow_private)
        return None if why is None else f"webhook_url: {why}"


PUSH_KINDS = frozenset({"fcm", "webpush"})
CHAT_KINDS = frozenset({"slack", "discord", "teams"})

DeviceIn = Annotated[FcmDeviceIn | WebPushDeviceIn | ChatDeviceIn, Field(discriminator="kind")]

# Devices given directly have no stored id: one derived from the address names the
# same device the same way every time (in logs, and to the push worker).
_DEVICE_NAMESPACE = uuid.UUID("6f1d0c4e-7d0b-4c56-9a59-1f3f0a7c2b11")


def device_id(address: str) -> uuid.UUID:
    return uuid.uuid5(_DEVICE_NAMESPACE, address)
