from __future__ import annotations

import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator

from herald.domain.encoding import b64url_decode
from herald.domain.locales import Locale
from herald.kit.envelope import Input

FCM_TOKEN_PATTERN = r"^[A-Za-z0-9_:\-.]{20,4096}$"
_ZONES = sorted(available_timezones())
_ZONE_SET = frozenset(_ZONES)


def _zone(value: str) -> str:
    if value not in _ZONE_SET:
        raise ValueError(f"'{value}' is not an IANA time zone such as 'Europe/Paris'")
    return value


class Strict(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# Each rule is in the JSON schema too, so that a request valid by /openapi.json is
# never refused by a check the schema did not show.
TimeZone = Annotated[str, Field(json_schema_extra={"enum": _ZONES}), AfterValidator(_zone)]
FcmToken = Annotated[str, Field(pattern=FCM_TOKEN_PATTERN)]


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


class Preferences(Strict):
    email: bool = True
    push: bool = True


class UserCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    push_token: FcmToken | None = None
    preferences: Preferences = Field(default_factory=Preferences)
    password: str = Field(min_length=8, max_length=1024)
    locale: Locale = "en"
    timezone: TimeZone = "UTC"


class UserUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = None
    push_token: FcmToken | None = None
    preferences: Preferences | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    locale: Locale | None = None
    timezone: TimeZone | None = None


class SubscriptionKeys(Strict):
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


class Subscription(Strict):
    endpoint: str = Field(max_length=2048)
    keys: SubscriptionKeys
    expirationTime: Any = None


class FcmDeviceIn(Strict):
    kind: Literal["fcm"]
    token: FcmToken


class WebPushDeviceIn(Strict):
    kind: Literal["webpush"]
    subscription: Subscription


DeviceIn = Annotated[FcmDeviceIn | WebPushDeviceIn, Field(discriminator="kind")]


class DeviceOut(BaseModel):
    id: uuid.UUID
    kind: str
    token: str | None = None
    subscription: dict[str, Any] | None = None
    valid: bool
    invalid_reason: str | None = None
    created_at: datetime


class UserOut(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    locale: str
    timezone: str
    preferences: Preferences
    email_bouncing: bool
    created_at: datetime
    updated_at: datetime


class Login(Strict):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Unsubscribe(Strict):
    channel: Literal["email", "push"]


class Bounce(Strict):
    email: EmailStr
    reason: str = Field(max_length=2000)


class InvalidateDevice(Strict):
    reason: str = Field(max_length=2000)
