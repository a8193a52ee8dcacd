"""Builds the email for one notification and hands it to the SMTP transport."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from herald.domain.errors import DeliveryError
from herald.domain.messages import SendNotification
from herald.domain.statuses import Channel
from herald.kit import auth
from herald.ports import EmailTransport

UNSUBSCRIBE_TTL = 180 * 24 * 3600


def unsubscribe_token(secret: str, user_id: str, channel: str) -> str:
    return auth.mint(
        secret, subject=f"{user_id}:{channel}", ttl=UNSUBSCRIBE_TTL, audience=auth.UNSUBSCRIBE
    )


class EmailSender:
    channel = Channel.EMAIL

    def __init__(
        self, transport: EmailTransport, *, sender: str, public_url: str, jwt_secret: str
    ) -> None:
        self._transport = transport
        self._from = sender
        self._domain = parseaddr(sender)[1].rpartition("@")[2] or "herald.local"
        self._public_url = public_url.rstrip("/")
        self._secret = jwt_secret

    def target(self, message: SendNotification) -> str:
        return self._transport.target

    def build(self, message: SendNotification, content: dict[str, Any]) -> EmailMessage:
        recipient = message.recipient
        if not recipient.email:
            raise DeliveryError("recipient has no email address", permanent=True)
        mail = EmailMessage()
        mail["From"] = self._from
        mail["To"] = recipient.email
        mail["Subject"] = content["subject"]
        mail["Date"] = formatdate(localtime=False)
        # Derived from the notification id: a resend after a crash carries the same id,
        # so receiving systems can tell it is the same message.
        mail["Message-ID"] = f"<{message.notification_id}@{self._domain}>"
        token = unsubscribe_token(self._secret, str(recipient.user_id), "email")
        link = f"{self._public_url}/api/v1/unsubscribe/{token}"
        mail["List-Unsubscribe"] = f"<{link}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058 §3.1
        mail["X-Herald-Notification-Id"] = str(message.notification_id)
        mail.set_content(content["text_body"])
        if content.get("html_body"):
            mail.add_alternative(content["html_body"], subtype="html")
        return mail

    async def send(self, message: SendNotification, content: dict[str, Any]) -> None:
        await self._transport.send(self.build(message, content))
