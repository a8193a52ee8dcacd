"""What the gateway reads of the users and templates services, typed: a user's contact
and a template's heads, as their internal routes answer (and the cache keeps them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from herald.domain.messages import Recipient


class Contact(Recipient):
    """``GET /internal/users/{id}/contact``: everything needed to route one notification,
    the recipient a worker sees and what decides whether it is sent at all."""

    model_config = ConfigDict(extra="ignore")

    timezone: str = "UTC"
    preferences: dict[str, bool] = Field(default_factory=dict)
    quiet_hours: dict[str, str] | None = None
    email_bounce: str | None = None
    _recipient: Recipient | None = PrivateAttr(default=None)

    def wants(self, channel: str) -> bool:
        return self.preferences.get(channel, True)

    def recipient(self) -> Recipient:
        """The recipient alone, as the message to a worker carries it (made once: a
        batch or a topic page routes many notifications to one contact)."""
        if self._recipient is None:
            # Its fields were validated with the contact: copied, not checked again.
            fields = {k: getattr(self, k) for k in Recipient.model_fields}
            self._recipient = Recipient.model_construct(**fields)
        return self._recipient


class VersionNeeds(BaseModel):
    """The variables one template version uses, and those its single-line fields use."""

    all: list[str] = Field(default_factory=list)
    single_line: list[str] = Field(default_factory=list)


class TemplateHeads(BaseModel):
    """``GET /internal/templates/{code}/heads``: each locale's latest version."""

    model_config = ConfigDict(extra="ignore")

    code: str
    channel: str
    default_locale: str
    locales: dict[str, int]
    # Absent from heads cached before they carried it: then nothing is checked.
    needs: dict[str, VersionNeeds] = Field(default_factory=dict)
