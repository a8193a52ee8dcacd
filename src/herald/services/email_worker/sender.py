"""Builds the email for one notification and hands it to the SMTP transport."""

from __future__ import annotations

from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formatdate, parseaddr
from typing import Any

from herald.domain.errors import DeliveryError
from herald.domain.messages import SendNotification
from herald.domain.statuses import Channel
from herald.kit import auth
from herald.ports import EmailTransport

UNSUBSCRIBE_TTL = 180 * 24 * 3600
# Fold only past RFC 5322's 998-character limit (§2.1.1), so that the one-click link
# stays on one header line.
_POLICY = compat32.clone(max_line_length=998)


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

    def build(self, message: SendNotification, content: dict[str, Any]) -> Message:
        """The MIME message, built with the plain MIME classes: the structured headers of
        ``EmailMessage`` re-parse every header they are given, which cost more CPU than
        sending the mail."""
        recipient = message.recipient
        if not recipient.email:
            raise DeliveryError("recipient has no email address", permanent=True)
        text = MIMEText(content["text_body"], "plain", "utf-8", policy=_POLICY)
        mail: Message = text
        if content.get("html_body"):
            # A boundary of our own: finding a random one that no body contains costs
            # a regular expression compiled per message. Bodies are base64 (utf-8
            # MIMEText), whose alphabet has no "=" followed by "_", so none contains it.
            mail = MIMEMultipart(
                "alternative", boundary=f"=_herald_{message.notification_id.hex}", policy=_POLICY
            )
            mail.attach(text)
            mail.attach(MIMEText(content["html_body"], "html", "utf-8", policy=_POLICY))
        mail["From"] = self._from
        mail["To"] = recipient.email
        # The renderer has already refused line breaks in a subject (header injection).
        mail["Subject"] = Header(content["subject"], "utf-8").encode()
        mail["Date"] = formatdate(localtime=False)
        # Derived from the notification id: a resend after a crash carries the same id,
        # so receiving systems can tell it is the same message.
        mail["Message-ID"] = f"<{message.notification_id}@{self._domain}>"
        token = unsubscribe_token(self._secret, str(recipient.user_id), "email")
        mail["List-Unsubscribe"] = f"<{self._public_url}/api/v1/unsubscribe/{token}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058 §3.1
        mail["X-Herald-Notification-Id"] = str(message.notification_id)
        return mail

    async def send(self, message: SendNotification, content: dict[str, Any]) -> None:
        await self._transport.send(self.build(message, content))
