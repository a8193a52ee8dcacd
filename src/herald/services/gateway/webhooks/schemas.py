"""The webhooks API's bodies (SPEC.md §6.3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field, TypeAdapter, field_validator

from herald.domain import webhooks
from herald.kit.envelope import Input as Strict

EventName = Literal[
    "notification.accepted",
    "notification.delivered",
    "notification.failed",
    "notification.skipped",
    "notification.cancelled",
    "notification.bounced",
    "notification.unsubscribed",
    "*",
]
assert set(EventName.__args__) == {*webhooks.EVENT_TYPES, webhooks.EVERY}  # type: ignore[attr-defined]


def _events(value: list[str] | None) -> list[str] | None:
    return None if value is None else list(dict.fromkeys(value))


_URL = TypeAdapter(AnyHttpUrl)


def _url(value: str | None) -> str | None:
    """Kept as given, once it parses as an http(s) URL with a host and holds no
    whitespace or control character (which a lenient parser would let through)."""
    if value is None:
        return None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("URL may not hold whitespace or control characters")
    _URL.validate_python(value)
    return value


class EndpointIn(Strict):
    url: str = Field(min_length=1, max_length=2000, description="https; no private address")
    events: list[EventName] = Field(min_length=1, max_length=len(webhooks.EVENT_TYPES) + 1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True

    _unique = field_validator("events")(_events)
    _usable = field_validator("url")(_url)


class EndpointPatch(Strict):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    events: list[EventName] | None = Field(
        default=None, min_length=1, max_length=len(webhooks.EVENT_TYPES) + 1
    )
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None

    _unique = field_validator("events")(_events)
    _usable = field_validator("url")(_url)


class EndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="why Herald disabled it, if it did")
    failing_since: datetime | None = Field(description="since when every attempt has failed")
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="whsec_…: shown on creation and rotation only")


class AttemptOut(BaseModel):
    id: int
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    webhook_id: str = Field(description="the webhook-id header sent, the same on each attempt")
    type: str
    attempt: int
    outcome: Literal["delivered", "retrying", "failed"]
    response_status: int | None
    error: str | None
    duration_ms: int
    timestamp: datetime


class Queued(BaseModel):
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    webhook_id: str
