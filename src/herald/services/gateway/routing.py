"""Where one notification goes: its user and template looked up (cached), the locale
and version chosen, its variables checked against what that version uses, and whether
it is sent or skipped, and why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from herald.domain import locales, variables
from herald.domain.errors import HeraldError
from herald.domain.messages import Recipient
from herald.domain.statuses import Channel
from herald.services.gateway import schemas
from herald.services.gateway.clients import Directory
from herald.services.gateway.records import VersionNeeds

_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def topic_of(metadata: dict[str, Any] | None) -> str | None:
    """``metadata.topic`` becomes the push Topic: a newer push with the same topic
    replaces an undelivered older one (RFC 8030 §5.4: at most 32 base64url characters)."""
    topic = (metadata or {}).get("topic")
    return topic if isinstance(topic, str) and _TOPIC.match(topic) else None


@dataclass(frozen=True, slots=True)
class Route:
    """Where one notification goes: its template version, locale and recipient."""

    version: int
    locale: str
    recipient: Recipient
    skip_reason: str | None


async def plan(directory: Directory, body: schemas.NotificationIn) -> Route:
    """Look the user and template up (cached) and decide: send, or skip and why."""
    channel = Channel(body.notification_type)
    contact, heads = await directory.contact_and_heads(
        str(body.user_id), body.template_code, channel
    )
    if contact is None:
        raise HeraldError.not_found(f"user {body.user_id}")
    if heads is None:
        raise HeraldError.not_found(f"template '{body.template_code}' for channel {channel}")
    chain = locales.fallback_chain(contact.locale, heads.default_locale)
    locale = next((c for c in chain if c in heads.locales), None)
    if locale is None:
        raise HeraldError.not_found(
            f"template '{body.template_code}' has no version in {contact.locale}"
        )
    _check_variables(body, heads.needs.get(locale))
    recipient = contact.recipient()
    skip: str | None = None
    if not contact.wants(channel):
        skip = f"user turned {channel} notifications off"
    elif channel == Channel.EMAIL and not contact.email:
        skip = "user has no email address"
    elif channel == Channel.EMAIL and contact.email_bounce:
        skip = f"email address is bouncing: {contact.email_bounce}"
    elif channel == Channel.PUSH and not recipient.devices:
        skip = "user has no valid push device"
    return Route(heads.locales[locale], locale, recipient, skip)


def _check_variables(body: schemas.NotificationIn, needs: VersionNeeds | None) -> None:
    """Refuse at the door what the worker could only fail on: a variable the template
    uses that the request lacks, or a line break bound for a subject or title."""
    if needs is None:  # heads cached before they carried what a version needs
        return
    given = body.variables.model_dump(mode="json")
    lacking = variables.missing(given, needs.all)
    if lacking:
        raise HeraldError.invalid(
            f"variables: template '{body.template_code}' uses "
            + ", ".join(f"'{name}'" for name in lacking)
            + ", which the request does not give"
        )
    broken = variables.breaks_a_line(given, needs.single_line)
    if broken:
        raise HeraldError.invalid(
            f"variables.{broken}: a line break or control character cannot go into the "
            "subject or title it is used in"
        )
