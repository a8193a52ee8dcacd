"""Builds the email for one notification and hands it to the SMTP transport."""

from __future__ import annotations

from email.utils import formataddr, formatdate, parseaddr
from typing import Any

from herald.domain.errors import DeliveryError
from herald.domain.messages import SendNotification
from herald.domain.statuses import Channel
from herald.kit import auth
from herald.ports import EmailTransport, OutgoingEmail
from herald.services.email_worker import mime

UNSUBSCRIBE_TTL = 180 * 24 * 3600


def unsubscribe_token(key: str, user_id: str, channel: str, notification: str | None = None) -> str:
    """``notification``: the one the link came in, named in the unsubscribe event."""
    return auth.mint(
        key,
        subject=f"{user_id}:{channel}",
        ttl=UNSUBSCRIBE_TTL,
        audience=auth.UNSUBSCRIBE,
        reference=notification,
    )


def address_unsubscribe_token(key: str, address: str, notification: str | None = None) -> str:
    """For mail sent to an address directly: unsubscribing suppresses the address."""
    return auth.mint(
        key,
        subject=f"address:email:{address}",
        ttl=UNSUBSCRIBE_TTL,
        audience=auth.UNSUBSCRIBE,
        reference=notification,
    )


class EmailSender:
    channel = Channel.EMAIL

    def __init__(
        self, transport: EmailTransport, *, sender: str, public_url: str, unsubscribe_key: str
    ) -> None:
        self._transport = transport
        name, self._address = parseaddr(sender)
        self._from = formataddr((name, self._address), charset="utf-8")  # an ASCII header
        self._domain = self._address.rpartition("@")[2] or "herald.local"
        self._public_url = public_url.rstrip("/")
        self._unsubscribe_key = unsubscribe_key

    def target(self, message: SendNotification) -> str:
        return self._transport.target

    def build(self, message: SendNotification, content: dict[str, Any]) -> OutgoingEmail:
        recipient = message.recipient
        if not recipient.email:
            raise DeliveryError("recipient has no email address", permanent=True)
        sent = str(message.notification_id)
        if recipient.user_id is None:
            token = address_unsubscribe_token(self._unsubscribe_key, recipient.email, sent)
        else:
            token = unsubscribe_token(self._unsubscribe_key, str(recipient.user_id), "email", sent)
        headers = [
            ("From", self._from),
            ("To", recipient.email),
            # The renderer has already refused line breaks in a subject; mime refuses
            # them again in every header (header injection).
            ("Subject", content["subject"]),
            ("Date", formatdate(localtime=False)),
            # Derived from the notification id: a resend after a crash carries the same
            # id, so receiving systems can tell it is the same message.
            ("Message-ID", f"<{message.notification_id}@{self._domain}>"),
            # One line however long (RFC 5322 allows 998 characters), so that the
            # one-click link is never folded.
            ("List-Unsubscribe", f"<{self._public_url}/api/v1/unsubscribe/{token}>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),  # RFC 8058 §3.1
            ("X-Herald-Notification-Id", str(message.notification_id)),
        ]
        data = mime.write(
            headers,
            content["text_body"],
            content.get("html_body"),
            boundary=f"=_herald_{message.notification_id.hex}",
        )
        return OutgoingEmail(self._address, (recipient.email,), data)

    async def send(self, message: SendNotification, content: dict[str, Any]) -> str | None:
        return await self._transport.send(self.build(message, content))
