"""The suppression list: addresses Herald will not send to when a client names them
directly (``to``), whoever asks: unsubscribed and hard-bounced email addresses, push
devices their service says are gone, numbers an operator took off."""

from __future__ import annotations

import hashlib

from herald.domain.statuses import Channel

CHANNELS = tuple(c.value for c in Channel)


def normalized(channel: str, address: str) -> str:
    """Email addresses compare without case (as the users service stores them); an FCM
    token or a Web Push endpoint exactly."""
    return address.strip().lower() if channel == "email" else address


def suppression_id(channel: str, address: str) -> str:
    """The entry's id: a hash, since an FCM token may run past what an index holds."""
    key = f"{channel}:{normalized(channel, address)}"
    return hashlib.sha256(key.encode()).hexdigest()
