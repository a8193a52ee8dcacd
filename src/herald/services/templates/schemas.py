from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, field_validator

from herald.domain import variables
from herald.domain.locales import Locale
from herald.domain.template_fields import CHANNEL_FIELDS
from herald.kit.envelope import Input as Strict

Channel = Literal["email", "push", "sms", "chat", "in_app"]
CODE_PATTERN = r"^[a-z0-9][a-z0-9_.\-]{0,99}$"
Source = Annotated[str, Field(max_length=64 * 1024)]


class _TemplateBase(Strict):
    code: str = Field(pattern=CODE_PATTERN)
    locale: Locale = "en"
    default_locale: Locale | None = None
    description: str | None = Field(default=None, max_length=2000)

    channel: Channel

    def fields(self) -> dict[str, str | None]:
        return {f: getattr(self, f) for f in CHANNEL_FIELDS[self.channel]}


class EmailTemplateIn(_TemplateBase):
    channel: Literal["email"]
    subject: Source = Field(min_length=1)
    text_body: Source = Field(min_length=1)
    html_body: Source | None = None


class PushTemplateIn(_TemplateBase):
    channel: Literal["push"]
    title: Source = Field(min_length=1)
    body: Source = Field(min_length=1)
    image: Source | None = None
    link: Source | None = None


class SmsTemplateIn(_TemplateBase):
    channel: Literal["sms"]
    body: Source = Field(min_length=1)


class ChatTemplateIn(_TemplateBase):
    channel: Literal["chat"]
    text: Source = Field(min_length=1)
    blocks: Source | None = Field(
        default=None,
        description="Slack Block Kit: a template that renders to a JSON array (use |tojson)",
    )


class InAppTemplateIn(_TemplateBase):
    channel: Literal["in_app"]
    title: Source = Field(min_length=1)
    body: Source = Field(min_length=1)
    link: Source | None = Field(default=None, description="what opens when the item is clicked")
    avatar: Source | None = Field(default=None, description="an image URL shown beside it")


# The channel decides the fields, in validation and in the OpenAPI schema alike.
TemplateIn = Annotated[
    EmailTemplateIn | PushTemplateIn | SmsTemplateIn | ChatTemplateIn | InAppTemplateIn,
    Field(discriminator="channel"),
]
TEMPLATE_IN: TypeAdapter[Any] = TypeAdapter(TemplateIn)


def _bounded(values: dict[str, Any]) -> dict[str, Any]:
    problem = variables.too_large(values)
    if problem:
        raise ValueError(problem)
    return values


class DraftIn(Strict):
    """A template as it would be saved, and the variables to render it with."""

    template: TemplateIn
    variables: dict[str, Any] = Field(default_factory=dict)

    _bounded = field_validator("variables")(_bounded)


# Versions are stored as a 32-bit integer; a number past it names no version.
MAX_VERSION = 2**31 - 1


class PreviewIn(Strict):
    channel: Channel
    locale: Locale | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)

    _bounded = field_validator("variables")(_bounded)


class _RenderedFields(BaseModel):
    subject: str | None = None
    text: str | None = None
    blocks: str | None = None
    text_body: str | None = None
    html_body: str | None = None
    title: str | None = None
    body: str | None = None
    image: str | None = None
    link: str | None = None
    avatar: str | None = None


class TemplateVersionOut(_RenderedFields):
    code: str
    channel: Channel
    locale: str
    version: int
    default_locale: str
    description: str | None = None
    created_at: str


class TemplateSummary(BaseModel):
    code: str
    channel: Channel
    default_locale: str
    description: str | None = None
    locales: dict[str, int]


class SmsParts(BaseModel):
    """How a text goes out: its encoding, its length in that encoding's units, and
    how many messages it is split into (each one billed)."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    parts: int


class Rendered(_RenderedFields):
    code: str
    channel: Channel
    locale: str
    version: int
    sms: SmsParts | None = Field(default=None, description="a text message's parts")
