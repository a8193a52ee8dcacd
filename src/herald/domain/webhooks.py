"""Delivery webhooks (SPEC.md §6.3): which status changes make an event, how an event is
signed (Standard Webhooks), and when a failed delivery is tried again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from herald.domain.statuses import Status

PREFIX = "notification."
ACCEPTED = PREFIX + "accepted"
BOUNCED = PREFIX + "bounced"
UNSUBSCRIBED = PREFIX + "unsubscribed"
TEST = "webhook.test"
EVENT_TYPES = (
    ACCEPTED,
    PREFIX + "delivered",
    PREFIX + "failed",
    PREFIX + "skipped",
    PREFIX + "cancelled",
    BOUNCED,
    UNSUBSCRIBED,
)
EVERY = "*"

# A status a notification reaches, as the event that reports it. ``pending`` and
# ``scheduled`` after the first entry are a retry and a release: nothing to report.
_REPORTED = {
    Status.DELIVERED: PREFIX + "delivered",
    Status.FAILED: PREFIX + "failed",
    Status.SKIPPED: PREFIX + "skipped",
    Status.CANCELLED: PREFIX + "cancelled",
}


def event_type(status: str, *, first: bool) -> str | None:
    """The event a history entry makes, or None. ``first``: the notification's first
    entry, written when it was accepted (pending or scheduled) or skipped."""
    if first:
        return PREFIX + "skipped" if status == Status.SKIPPED else ACCEPTED
    return _REPORTED.get(Status(status))


def listens(events: Sequence[str], event: str) -> bool:
    return event == TEST or EVERY in events or event in events


# Standard Webhooks: a secret is "whsec_" and the base64 of its key bytes; the
# signature is "v1," and the base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}".
SECRET_PREFIX = "whsec_"
# After a rotation the old secret signs too, for this long: receivers switch at leisure.
ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signatures(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one signature per secret, space-separated."""
    return " ".join(signature(s, message_id, timestamp, body) for s in secrets_)


def message_id(event_id: str) -> str:
    """``webhook-id``: the event's, the same on every attempt and every endpoint."""
    return "msg_" + event_id.replace("-", "")


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Seconds to wait after each failed attempt; after the last, the event is failed."""

    delays: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> RetrySchedule:
        try:
            delays = tuple(float(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise ValueError(f"retry schedule {text!r}: seconds separated by commas") from None
        if any(d < 0 for d in delays):
            raise ValueError(f"retry schedule {text!r}: no delay may be negative")
        return cls(delays)

    @property
    def attempts(self) -> int:
        return len(self.delays) + 1

    def next_attempt(self, made: int, at: datetime) -> datetime | None:
        """When attempt ``made + 1`` goes, after ``made`` attempts failed; None: never."""
        if made > len(self.delays):
            return None
        return at + timedelta(seconds=self.delays[made - 1])
