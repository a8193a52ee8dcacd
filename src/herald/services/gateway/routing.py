"""Where one notification goes: its recipient and template looked up (cached), the
locale and version chosen, its variables checked against what that version uses, and
whether it is sent or skipped, and why. A recipient is a stored user (preferences
apply), an address given directly (the suppression list applies), or a topic (its
variables are checked against every locale; each subscriber is routed at fan-out)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from herald.domain import locales, variables
from herald.domain.errors import HeraldError
from herald.domain.messages import Device, Recipient
from herald.domain.statuses import Channel
from herald.kit.devices import (
    CHAT_KINDS,
    PUSH_KINDS,
    ChatDeviceIn,
    FcmDeviceIn,
    WebPushDeviceIn,
    device_id,
)
from herald.services.gateway import schemas
from herald.services.gateway.clients import Directory
from herald.services.gateway.records import Contact, TemplateHeads, VersionNeeds

_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def topic_of(metadata: dict[str, Any] | None) -> str | None:
    """``metadata.topic`` becomes the push Topic: a newer push with the same topic
    replaces an undelivered older one (RFC 8030 §5.4: at most 32 base64url characters)."""
    topic = (metadata or {}).get("topic")
    return topic if isinstance(topic, str) and _TOPIC.match(topic) else None


@dataclass(frozen=True, slots=True)
class Route:
    """Where one notification goes: its template version, locale and recipient (none
    for a topic send, whose children each have their own)."""

    version: int | None
    locale: str | None
    recipient: Recipient | None
    skip_reason: str | None
    # A stored user's quiet hours, in their time zone.
    quiet_hours: dict[str, str] | None = None
    timezone: str = "UTC"


async def plan(
    directory: Directory, body: schemas.NotificationIn, *, allow_private: bool = False
) -> Route:
    """Look the recipient and template up (cached) and decide: send, or skip and why.
    ``allow_private``: whether a Web Push endpoint given directly may be a private
    address (as for devices users register)."""
    channel = Channel(body.notification_type)
    if body.to is not None:
        return await _direct(directory, body, body.to, channel, allow_private)
    if body.topic is not None:
        every = _found(body, channel, await directory.heads(body.template_code, channel))
        for needs in every.needs.values():  # whichever locale each subscriber gets
            _check_variables(body.template_code, _given(body), needs)
        return Route(None, None, None, None)
    contact, heads = await directory.contact_and_heads(
        str(body.user_id), body.template_code, channel
    )
    if contact is None:
        raise HeraldError.not_found(f"user {body.user_id}")
    found = _found(body, channel, heads)
    locale = _locale(body.template_code, found, contact.locale)
    _check_variables(body.template_code, _given(body), found.needs.get(locale))
    return _to_user(contact, found.locales[locale], locale, channel)


def route_subscriber(contact: Contact | None, heads: TemplateHeads | None, channel: str) -> Route:
    """A topic's child: its variables were checked with the parent, so what is left
    is the subscriber's locale and whether they want it. Never raises: what could not
    be sent is skipped, with the reason."""
    if contact is None:
        return Route(None, None, None, "the user no longer exists")
    if heads is None:
        return Route(None, None, contact.recipient(), "the template no longer exists")
    try:
        locale = _locale(heads.code, heads, contact.locale)
    except HeraldError as exc:
        return Route(None, None, contact.recipient(), exc.error)
    return _to_user(contact, heads.locales[locale], locale, channel)


def _to_user(contact: Contact, version: int, locale: str, channel: str) -> Route:
    # An item in a feed interrupts nobody: it waits to be seen, not for quiet hours.
    quiet = None if channel == Channel.IN_APP else contact.quiet_hours
    skip = skip_for(contact, channel)
    return Route(version, locale, contact.recipient(), skip, quiet, contact.timezone)


def _given(body: schemas.NotificationIn) -> dict[str, Any]:
    """The variables a send gives its template; a digest's message gets ``digest``."""
    given: dict[str, Any] = body.dumped["variables"]
    if body.digest is not None:
        given = {**given, "digest": {"count": 1, "items": [given]}}
    return given


def skip_for(contact: Contact, channel: str) -> str | None:
    """Why a user is not sent this channel, or None."""
    if not contact.wants(channel):
        return f"user turned {channel} notifications off"
    if channel == Channel.EMAIL and not contact.email:
        return "user has no email address"
    if channel == Channel.EMAIL and contact.email_bounce:
        return f"email address is bouncing: {contact.email_bounce}"
    if channel == Channel.PUSH and not any(d.kind in PUSH_KINDS for d in contact.devices):
        return "user has no valid push device"
    if channel == Channel.CHAT and not any(d.kind in CHAT_KINDS for d in contact.devices):
        return "user has no chat to send to"
    if channel == Channel.SMS and not contact.phone:
        return "user has no phone number"
    return None


async def _direct(
    directory: Directory,
    body: schemas.NotificationIn,
    to: schemas.To,
    channel: Channel,
    allow_private: bool,
) -> Route:
    why = None if to.device is None else to.device.refused(allow_private=allow_private)
    if why is not None:
        raise HeraldError.invalid(f"to.device.{why}")
    heads, suppressed = await directory.heads_and_suppression(
        body.template_code, channel, to.address
    )
    heads = _found(body, channel, heads)
    locale = _locale(body.template_code, heads, to.locale or heads.default_locale)
    _check_variables(body.template_code, _given(body), heads.needs.get(locale))
    devices = [] if to.device is None else [_device(to.device)]
    recipient = Recipient(
        user_id=None, name="", email=to.email, locale=locale, devices=devices, phone=to.phone
    )
    skip = f"address is suppressed: {suppressed}" if suppressed else None
    return Route(heads.locales[locale], locale, recipient, skip)


def _device(given: FcmDeviceIn | WebPushDeviceIn | ChatDeviceIn) -> Device:
    """A device given directly, as a worker sees a registered one."""
    if isinstance(given, FcmDeviceIn):
        return Device(id=device_id(given.token), kind="fcm", token=given.token)
    if isinstance(given, ChatDeviceIn):
        return Device(id=device_id(given.address), kind=given.kind, webhook_url=given.address)
    keys = given.subscription.keys
    return Device(
        id=device_id(given.address),
        kind="webpush",
        subscription={
            "endpoint": given.address,
            "keys": {"p256dh": keys.p256dh, "auth": keys.auth},
        },
    )


def _found(
    body: schemas.NotificationIn, channel: Channel, heads: TemplateHeads | None
) -> TemplateHeads:
    if heads is None:
        raise HeraldError.not_found(f"template '{body.template_code}' for channel {channel}")
    return heads


def _locale(code: str, heads: TemplateHeads, wanted: str) -> str:
    chain = locales.fallback_chain(wanted, heads.default_locale)
    locale = next((c for c in chain if c in heads.locales), None)
    if locale is None:
        raise HeraldError.not_found(f"template '{code}' has no version in {wanted}")
    return locale


def _check_variables(code: str, given: dict[str, Any], needs: VersionNeeds | None) -> None:
    """Refuse at the door what the worker could only fail on: a variable the template
    uses that the request lacks, or a line break bound for a subject or title."""
    if needs is None:  # heads cached before they carried what a version needs
        return
    lacking = variables.missing(given, needs.all)
    if lacking:
        raise HeraldError.invalid(
            f"variables: template '{code}' uses "
            + ", ".join(f"'{name}'" for name in lacking)
            + ", which the request does not give"
        )
    broken = variables.breaks_a_line(given, needs.single_line)
    if broken:
        raise HeraldError.invalid(
            f"variables.{broken}: a line break or control character cannot go into the "
            "subject or title it is used in"
        )
