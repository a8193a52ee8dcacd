from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from herald.domain import locales
from herald.domain.templating import CHANNEL_FIELDS, REQUIRED_FIELDS

Channel = Literal["email", "push"]
CODE_PATTERN = r"^[a-z0-9][a-z0-9_.\-]{0,99}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _locale(value: str | None) -> str | None:
    return None if value is None else locales.normalize(value)


class TemplateIn(Strict):
    code: str = Field(pattern=CODE_PATTERN)
    channel: Channel
    locale: str = "en"
    default_locale: str | None = None
    description: str | None = Field(default=None, max_length=2000)
    subject: str | None = None
    text_body: str | None = None
    html_body: str | None = None
    title: str | None = None
    body: str | None = None
    image: str | None = None
    link: str | None = None

    _check_locales = field_validator("locale", "default_locale")(_locale)

    @model_validator(mode="after")
    def _fields_of_channel(self) -> Self:
        allowed = set(CHANNEL_FIELDS[self.channel])
        stray = [
            f
            for group in CHANNEL_FIELDS.values()
            for f in group
            if f not in allowed and getattr(self, f) is not None
        ]
        if stray:
            raise ValueError(f"{self.channel} templates have no field {', '.join(stray)}")
        missing = [f for f in REQUIRED_FIELDS[self.channel] if not getattr(self, f)]
        if missing:
            raise ValueError(f"{self.channel} templates need {', '.join(missing)}")
        return self

    def fields(self) -> dict[str, str | None]:
        return {f: getattr(self, f) for f in CHANNEL_FIELDS[self.channel]}


class PreviewIn(Strict):
    channel: Channel | None = None
    locale: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1)

    _check_locale = field_validator("locale")(_locale)
