from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from herald.domain import variables
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
        problem = variables.too_large(self.model_dump(mode="json"))
        if problem:
            raise ValueError(problem)
        return self


_VARIABLE_NAME = re.compile(variables.NAME_PATTERN)


class NotificationIn(Strict):
    """The seed's request body, exactly."""

    notification_type: Literal["email", "push"]
    user_id: uuid.UUID
    template_code: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,99}$")
    variables: Variables
    request_id: str = Field(min_length=1, max_length=200)
    priority: int = Field(default=5, ge=0, le=9)
    metadata: dict[str, Any] | None = None


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
    status: str
    notification_type: str
    created_at: datetime
    reason: str | None = None


class StatusReport(Strict):
    """The seed's status body, exactly (``POST /api/v1/{email|push}/status/``)."""

    notification_id: str = Field(pattern=UUID_PATTERN)
    status: Literal["delivered", "pending", "failed"]
    timestamp: datetime | None = None
    error: str | None = Field(default=None, max_length=4000)


class HistoryEntry(BaseModel):
    status: str
    timestamp: datetime
    error: str | None = None


class NotificationOut(BaseModel):
    notification_id: uuid.UUID
    request_id: str
    notification_type: str
    user_id: uuid.UUID
    template_code: str
    template_version: int | None
    locale: str | None
    priority: int
    metadata: dict[str, Any] | None
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntry] | None = None


class ApiKeyIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Literal["admin", "send", "status"]] = Field(default=["send"])
