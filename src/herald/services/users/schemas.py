from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, model_validator

from herald.domain.locales import Locale
from herald.domain.quiet_hours import HH_MM
from herald.domain.sms import E164_PATTERN
from herald.domain.statuses import Channel
from herald.kit.devices import ChatDeviceIn as ChatDeviceIn
from herald.kit.devices import DeviceIn as DeviceIn
from herald.kit.devices import FcmDeviceIn as FcmDeviceIn
from herald.kit.devices import FcmToken
from herald.kit.devices import WebPushDeviceIn as WebPushDeviceIn
from herald.kit.envelope import Input

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
Phone = Annotated[
    str, Field(pattern=E164_PATTERN, description="E.164: a + and the number, e.g. +447700900123")
]
# An admin may sign in to the console (SPEC.md §6.4); only an admin may give the role.
Role = Literal["user", "admin"]


class QuietHoursIn(Strict):
    """A daily window of the user's local time (their ``timezone``) in which only
    urgent notifications (priority 8 or more) are delivered; the rest wait for its end.
    An end earlier than the start spans midnight."""

    start: str = Field(pattern=HH_MM, examples=["22:00"], description="HH:MM, local time")
    end: str = Field(pattern=HH_MM, examples=["07:00"], description="HH:MM, local time")

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("quiet hours need an end different from their start")
        return self


class Preferences(Strict):
    email: bool = True
    push: bool = True
    sms: bool = True
    chat: bool = True
    in_app: bool = True
    quiet_hours: QuietHoursIn | None = Field(
        default=None, description="omitted: unchanged; null: none"
    )


class UserCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    push_token: FcmToken | None = None
    preferences: Preferences = Field(default_factory=Preferences)
    password: str = Field(min_length=8, max_length=1024)
    locale: Locale = "en"
    timezone: TimeZone = "UTC"
    role: Role = "user"
    phone: Phone | None = None


class UserUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = None
    push_token: FcmToken | None = None
    preferences: Preferences | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    locale: Locale | None = None
    timezone: TimeZone | None = None
    role: Role | None = None
    phone: Phone | None = None


class DeviceOut(BaseModel):
    id: uuid.UUID
    kind: str
    token: str | None = None
    subscription: dict[str, Any] | None = None
    webhook_url: str | None = None
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
    phone: str | None = None
    role: Role
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


class SuppressionIn(Strict):
    channel: Channel
    address: str = Field(
        min_length=1,
        max_length=4096,
        description="An email address, an FCM token, a Web Push endpoint or a phone number",
    )
    reason: str = Field(default="added by an operator", min_length=1, max_length=2000)


class SuppressionOut(BaseModel):
    id: str
    channel: str
    address: str
    reason: str
    created_at: datetime


class UserIds(Strict):
    # A topic's page of subscribers, or the users of one subscribe call.
    user_ids: list[uuid.UUID] = Field(max_length=10_000)


class AddressesIn(Strict):
    """Addresses of one channel whose suppression is asked about (a batch's)."""

    channel: Channel
    addresses: list[str] = Field(max_length=1000)
