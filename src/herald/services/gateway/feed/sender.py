"""In-app notifications (``herald worker in_app``): delivering one is storing it in
its user's feed and signalling the streams, on the same delivery engine as every
channel. The worker runs on the gateway's database, where feeds are read."""

from __future__ import annotations

from typing import Any

from herald.domain.errors import DeliveryError
from herald.domain.messages import SendNotification
from herald.domain.statuses import Channel
from herald.ports import Signals
from herald.services.gateway.feed.store import CHANNEL, FeedStore, NewItem

# What a feed item's link and avatar may be: a page of the client's own site, or a
# web address; never a script (the feed shows them as a link and an image).
_SAFE_PREFIXES = ("https://", "http://", "/")


def _address(content: dict[str, Any], field: str) -> str | None:
    value = (content.get(field) or "").strip()
    if not value:
        return None
    if not value.lower().startswith(_SAFE_PREFIXES) or value.startswith("//"):
        raise DeliveryError(
            f"the template's {field} must be an http(s) URL or a path, not {value[:80]!r}",
            permanent=True,
        )
    return value


class InAppSender:
    channel = Channel.IN_APP

    def __init__(self, feeds: FeedStore, signals: Signals) -> None:
        self._feeds = feeds
        self._signals = signals

    def target(self, message: SendNotification) -> str:
        return "feeds"  # the gateway's database

    async def send(self, message: SendNotification, content: dict[str, Any]) -> str | None:
        user_id = message.recipient.user_id
        if user_id is None:
            raise DeliveryError("an in-app notification needs a user's feed", permanent=True)
        seq = await self._feeds.add(
            NewItem(
                notification_id=message.notification_id,
                user_id=user_id,
                template_code=message.template_code,
                title=content.get("title") or "",
                body=content.get("body") or "",
                link=_address(content, "link"),
                avatar=_address(content, "avatar"),
            )
        )
        await self._signals.publish(CHANNEL, str(user_id))
        return f"feed item {seq}"
