from __future__ import annotations

import re
import uuid
from datetime import datetime
from functools import cached_property
from typing import Any, Literal, Self

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    model_validator,
)

from herald.domain import variables
from herald.domain.locales import Locale
from herald.domain.sms import E164_PATTERN
from herald.domain.statuses import Status
from herald.domain.suppressions import suppression_id
from herald.kit.devices import CHAT_KINDS, DeviceIn
from herald.kit.envelope import Input as Strict

UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"


class Variables(Strict):
    """The seed's ``name``, ``link`` and ``meta``, and any other key a template uses
    (SPEC.md §3). None is required here: the template decides, at acceptance."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, max_length=500)
    link: AnyHttpUrl | None = None
    meta: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        for key in self.__pydantic_extra__ or {}:
            if not _VARIABLE_NAME.match(key):
                raise ValueError(f"'{key}' is not a variable name (letters, digits, _)")
        # Measured as the serializer writes them, not dumped to dicts and encoded
        # again: every item of a batch pays for this.
        problem = variables.too_many_bytes(len(self.__pydantic_serializer__.to_json(self)))
        if problem:
            raise ValueError(problem)
        return self


_VARIABLE_NAME = re.compile(variables.NAME_PATTERN)


KEY_PATTERN = r"^[a-z0-9][a-z0-9_.\-]{0,99}$"


class To(Strict):
    """A recipient without a stored user: an email address, a push device, or a phone
    number."""

    email: EmailStr | None = Field(default=None, description="for an email notification")
    device: DeviceIn | None = Field(
        default=None,
        description="for a push or chat notification: a device body as users register",
    )
    phone: str | None = Field(
        default=None, pattern=E164_PATTERN, description="for a text message: E.164"
    )
    locale: Locale | None = Field(default=None, description="the template locale to use")

    @model_validator(mode="after")
    def _one(self) -> Self:
        if sum(f is not None for f in (self.email, self.device, self.phone)) != 1:
            raise ValueError("give exactly one of 'email', 'device' and 'phone'")
        return self

    @property
    def channel(self) -> str:
        if self.email is not None:
            return "email"
        if self.device is not None:
            return "chat" if self.device.kind in CHAT_KINDS else "push"
        return "sms"

    @property
    def address(self) -> str:
        if self.email is not None:
            return self.email
        if self.phone is not None:
            return self.phone
        assert self.device is not None
        return self.device.address


MAX_SCHEDULE_AHEAD_DAYS = 90


class DigestIn(Strict):
    """Collect this notification with the others for the same recipient, template and
    ``key`` until the window closes, then send them as one message."""

    key: str = Field(min_length=1, max_length=200, examples=["comments"])
    window_seconds: int = Field(
        ge=60, le=86_400, description="how long the window the first member opens stays open"
    )


class NotificationIn(Strict):
    """The seed's request body, with a recipient named in exactly one of three ways:
    a stored user (``user_id``), an address (``to``), or a topic's subscribers."""

    notification_type: Literal["email", "push", "sms", "chat", "in_app"]
    user_id: uuid.UUID | None = None
    to: To | None = None
    topic: str | None = Field(default=None, pattern=KEY_PATTERN)
    template_code: str = Field(pattern=KEY_PATTERN)
    variables: Variables
    request_id: str = Field(min_length=1, max_length=200)
    priority: int = Field(default=5, ge=0, le=9)
    metadata: dict[str, Any] | None = None
    send_at: AwareDatetime | None = Field(
        default=None,
        description=(
            "RFC 3339 with an offset, at most 90 days ahead: the notification is "
            "'scheduled' until then (a time past is now)"
        ),
    )
    digest: DigestIn | None = None

    @model_validator(mode="after")
    def _addressed_once(self) -> Self:
        named = [f for f in ("user_id", "to", "topic") if getattr(self, f) is not None]
        if len(named) != 1:
            raise ValueError(
                "give exactly one of 'user_id', 'to' and 'topic'"
                + (f" (this request gives {', '.join(named)})" if named else "")
            )
        if self.to is not None and self.notification_type == "in_app":
            raise ValueError(
                "an in_app notification goes to a user's feed: give 'user_id' or 'topic'"
            )
        if self.to is not None and self.to.channel != self.notification_type:
            wanted = {
                "email": "'email'",
                "push": "'device' (fcm or webpush)",
                "sms": "'phone'",
                "chat": "'device' (slack, discord or teams)",
            }[self.notification_type]
            raise ValueError(f"a {self.notification_type} notification's 'to' takes {wanted}")
        if self.digest is not None and self.send_at is not None:
            raise ValueError(
                "give 'send_at' or 'digest', not both: a digest is sent when it closes"
            )
        return self

    @cached_property
    def dumped(self) -> dict[str, Any]:
        """The body as JSON values, made once (fingerprinted, stored, checked)."""
        return self.model_dump(mode="json")

    @property
    def recipient_key(self) -> str:
        """Whom the per-recipient rate limit counts: a user, an address, or a topic."""
        if self.user_id is not None:
            return str(self.user_id)
        if self.to is not None:
            return f"{self.to.channel}:{suppression_id(self.to.channel, self.to.address)}"
        return f"topic:{self.topic}"


MAX_BATCH = 1000


class BatchIn(Strict):
    """``POST /api/v1/notifications/batch``: up to 1,000 send bodies, each judged alone."""

    notifications: list[dict[str, Any]] = Field(
        min_length=1,
        description="Send bodies, each as POST /api/v1/notifications/ takes it (at most 1,000)",
    )


class BatchItem(BaseModel):
    index: int
    status_code: int
    notification_id: uuid.UUID | None = None
    error: str | None = None


class Accepted(BaseModel):
    notification_id: uuid.UUID
    request_id: str
    status: Status
    notification_type: str
    created_at: datetime
    reason: str | None = None
    send_at: datetime | None = Field(default=None, description="when a scheduled one is due")


class StatusReport(Strict):
    """The seed's status body, exactly (``POST /api/v1/{email|push}/status/``)."""

    notification_id: str = Field(pattern=UUID_PATTERN)
    status: Literal["delivered", "pending", "failed"]
    timestamp: datetime | None = None
    error: str | None = Field(default=None, max_length=4000)


class HistoryEntry(BaseModel):
    status: Status
    timestamp: datetime
    error: str | None = None
    provider_response: str | None = Field(
        default=None, description="what the relay or push service answered on taking it"
    )


class Fanout(BaseModel):
    total: int
    accepted: int
    skipped: int


class NotificationOut(BaseModel):
    notification_id: uuid.UUID
    request_id: str
    notification_type: str
    user_id: uuid.UUID | None
    to: dict[str, Any] | None = None
    topic: str | None = None
    parent_id: uuid.UUID | None = None
    fanout: Fanout | None = None
    send_at: datetime | None = Field(
        default=None, description="when a scheduled notification is (or was) due"
    )
    digest_id: uuid.UUID | None = Field(
        default=None, description="the digest it was (or will be) delivered in"
    )
    template_code: str
    template_version: int | None
    locale: str | None
    priority: int
    metadata: dict[str, Any] | None
    status: Status
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntry] | None = None


class ApiKeyIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Literal["admin", "send", "status"]] = Field(default=["send"])


class TopicIn(Strict):
    key: str = Field(pattern=KEY_PATTERN, description="lowercase letters, digits, _ . -")
    name: str = Field(min_length=1, max_length=200)


class TopicOut(BaseModel):
    key: str
    name: str
    subscribers: int
    created_at: datetime


MAX_SUBSCRIBERS_PER_CALL = 10_000


class SubscribersIn(Strict):
    user_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=MAX_SUBSCRIBERS_PER_CALL,
        description="at most 10,000 users per call",
    )


class SubscribersChanged(BaseModel):
    changed: int
    subscribers: int


class SubscriberOut(BaseModel):
    user_id: uuid.UUID
    subscribed_at: datetime
