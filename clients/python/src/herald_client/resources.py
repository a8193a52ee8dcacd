"""Herald's public API, one class per part of it, asynchronous. ``operation`` records
which route each method calls: a test holds that list to ``/openapi.json``."""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, TypeAdapter

from herald_client import models, sse
from herald_client._transport import Answer, Transport

T = TypeVar("T", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

# (method, path) of every route a method of this module calls.
OPERATIONS: set[tuple[str, str]] = set()


def operation(method: str, path: str) -> Callable[[F], F]:
    def record(function: F) -> F:
        OPERATIONS.add((method, path))
        return function

    return record


@dataclass(frozen=True, slots=True)
class ListPage(Generic[T]):
    """One page of a list, and where it stands."""

    items: list[T]
    meta: models.Page


def _one(kind: type[T], answer: Answer) -> T:
    return kind.model_validate(answer.data)


def _page(kind: type[T], answer: Answer) -> ListPage[T]:
    items = TypeAdapter(list[kind]).validate_python(answer.data)  # type: ignore[valid-type]
    return ListPage(items, models.Page.model_validate(answer.meta))


async def _every(fetch: Callable[[int], Awaitable[ListPage[T]]]) -> AsyncIterator[T]:
    page = 1
    while True:
        found = await fetch(page)
        for item in found.items:
            yield item
        if not found.meta.has_next:
            return
        page += 1


def _when(value: datetime | str | None) -> str | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("send_at needs a time zone: Herald takes RFC 3339 with an offset")
        return value.isoformat()
    return value


class Resource:
    def __init__(self, transport: Transport) -> None:
        self._t = transport


class Notifications(Resource):
    @operation("POST", "/api/v1/notifications/")
    async def send(
        self,
        *,
        notification_type: models.Channel,
        template_code: str,
        variables: dict[str, Any],
        user_id: uuid.UUID | str | None = None,
        to: dict[str, Any] | None = None,
        topic: str | None = None,
        request_id: str | None = None,
        priority: int = 5,
        metadata: dict[str, Any] | None = None,
        send_at: datetime | str | None = None,
        digest: dict[str, Any] | None = None,
    ) -> models.Accepted:
        """Accept a notification for a stored user, an address (``to``: ``email``,
        ``device`` or ``phone``) or a topic's subscribers. Without a ``request_id`` one
        is made, so that a retry after a lost answer can never make two notifications."""
        body = _send_body(locals())
        answer = await self._t.call("POST", "/api/v1/notifications/", json=body, repeatable=True)
        return _one(models.Accepted, answer)

    @operation("POST", "/api/v1/notifications/batch")
    async def send_batch(
        self, notifications: Sequence[dict[str, Any]]
    ) -> builtins.list[models.BatchItem]:
        """Up to 1,000 send bodies, each judged on its own; an item without a
        ``request_id`` gets one."""
        items = [{"request_id": uuid.uuid4().hex, **item} for item in notifications]
        answer = await self._t.call(
            "POST",
            "/api/v1/notifications/batch",
            json={"notifications": items},
            repeatable=True,
        )
        return TypeAdapter(list[models.BatchItem]).validate_python(answer.data)

    @operation("GET", "/api/v1/notifications/{notification_id}")
    async def get(self, notification_id: uuid.UUID | str) -> models.NotificationOut:
        answer = await self._t.call("GET", f"/api/v1/notifications/{notification_id}")
        return _one(models.NotificationOut, answer)

    @operation("GET", "/api/v1/notifications/")
    async def list(
        self,
        *,
        user_id: uuid.UUID | str | None = None,
        status: models.Status | None = None,
        notification_type: models.Channel | None = None,
        parent_id: uuid.UUID | str | None = None,
        template_code: str | None = None,
        request_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> ListPage[models.NotificationOut]:
        """Newest first; ``created_after`` (inclusive) and ``created_before`` bound the
        time each was accepted."""
        params = {
            "user_id": user_id,
            "status": status,
            "notification_type": notification_type,
            "parent_id": parent_id,
            "template_code": template_code,
            "request_id": request_id,
            "created_after": _when(created_after),
            "created_before": _when(created_before),
            "page": page,
            "limit": limit,
        }
        answer = await self._t.call("GET", "/api/v1/notifications/", params=params)
        return _page(models.NotificationOut, answer)

    def every(self, /, **filters: Any) -> AsyncIterator[models.NotificationOut]:
        """Every notification the filters of ``list`` pick, page after page."""
        return _every(lambda page: self.list(**filters, page=page, limit=100))

    @operation("POST", "/api/v1/notifications/{notification_id}/cancel")
    async def cancel(self, notification_id: uuid.UUID | str) -> models.NotificationOut:
        answer = await self._t.call("POST", f"/api/v1/notifications/{notification_id}/cancel")
        return _one(models.NotificationOut, answer)

    @operation("POST", "/api/v1/{notification_preference}/status/")
    async def report_status(
        self,
        channel: models.Channel,
        notification_id: uuid.UUID | str,
        status: Literal["delivered", "pending", "failed"],
        *,
        timestamp: datetime | None = None,
        error: str | None = None,
    ) -> models.NotificationOut:
        """A provider's outcome. Reporting the status a notification has is harmless,
        so this is retried like a read."""
        body = {
            "notification_id": str(notification_id),
            "status": status,
            "timestamp": None if timestamp is None else timestamp.isoformat(),
            "error": error,
        }
        answer = await self._t.call(
            "POST", f"/api/v1/{channel}/status/", json=body, repeatable=True
        )
        return _one(models.NotificationOut, answer)


def _send_body(given: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in given.items() if k != "self" and v is not None}
    body["request_id"] = given["request_id"] or uuid.uuid4().hex
    for name in ("user_id",):
        if name in body:
            body[name] = str(body[name])
    if "send_at" in body:
        body["send_at"] = _when(body["send_at"])
    return body


class Topics(Resource):
    @operation("POST", "/api/v1/topics/")
    async def create(self, key: str, name: str) -> models.TopicOut:
        answer = await self._t.call("POST", "/api/v1/topics/", json={"key": key, "name": name})
        return _one(models.TopicOut, answer)

    @operation("GET", "/api/v1/topics/")
    async def list(self, *, page: int = 1, limit: int = 20) -> ListPage[models.TopicOut]:
        params = {"page": page, "limit": limit}
        return _page(models.TopicOut, await self._t.call("GET", "/api/v1/topics/", params=params))

    @operation("GET", "/api/v1/topics/{key}")
    async def get(self, key: str) -> models.TopicOut:
        return _one(models.TopicOut, await self._t.call("GET", f"/api/v1/topics/{key}"))

    @operation("DELETE", "/api/v1/topics/{key}")
    async def delete(self, key: str) -> None:
        await self._t.call("DELETE", f"/api/v1/topics/{key}")

    @operation("POST", "/api/v1/topics/{key}/subscribers")
    async def subscribe(
        self, key: str, user_ids: Sequence[uuid.UUID | str]
    ) -> models.SubscribersChanged:
        """Add up to 10,000 users (those already following are left as they are)."""
        answer = await self._t.call(
            "POST",
            f"/api/v1/topics/{key}/subscribers",
            json={"user_ids": [str(u) for u in user_ids]},
            repeatable=True,
        )
        return _one(models.SubscribersChanged, answer)

    @operation("DELETE", "/api/v1/topics/{key}/subscribers")
    async def unsubscribe(
        self, key: str, user_ids: Sequence[uuid.UUID | str]
    ) -> models.SubscribersChanged:
        answer = await self._t.call(
            "DELETE",
            f"/api/v1/topics/{key}/subscribers",
            json={"user_ids": [str(u) for u in user_ids]},
        )
        return _one(models.SubscribersChanged, answer)

    @operation("GET", "/api/v1/topics/{key}/subscribers")
    async def subscribers(
        self, key: str, *, page: int = 1, limit: int = 20
    ) -> ListPage[models.SubscriberOut]:
        answer = await self._t.call(
            "GET", f"/api/v1/topics/{key}/subscribers", params={"page": page, "limit": limit}
        )
        return _page(models.SubscriberOut, answer)


class Webhooks(Resource):
    """Endpoints that hear of notifications' events (admin keys only). Verify what
    arrives with ``herald_client.webhooks.verify``."""

    @operation("POST", "/api/v1/webhooks/")
    async def create(
        self,
        url: str,
        events: Sequence[models.WebhookEvent] = ("*",),
        *,
        description: str | None = None,
        enabled: bool = True,
    ) -> models.WebhookEndpointWithSecret:
        """Register an endpoint; its ``secret`` is shown now and on rotation only."""
        body = {
            "url": url,
            "events": builtins.list(events),
            "description": description,
            "enabled": enabled,
        }
        answer = await self._t.call("POST", "/api/v1/webhooks/", json=body)
        return _one(models.WebhookEndpointWithSecret, answer)

    @operation("GET", "/api/v1/webhooks/")
    async def list(self, *, page: int = 1, limit: int = 20) -> ListPage[models.WebhookEndpoint]:
        answer = await self._t.call(
            "GET", "/api/v1/webhooks/", params={"page": page, "limit": limit}
        )
        return _page(models.WebhookEndpoint, answer)

    @operation("GET", "/api/v1/webhooks/{endpoint_id}")
    async def get(self, endpoint_id: uuid.UUID | str) -> models.WebhookEndpoint:
        answer = await self._t.call("GET", f"/api/v1/webhooks/{endpoint_id}")
        return _one(models.WebhookEndpoint, answer)

    @operation("PATCH", "/api/v1/webhooks/{endpoint_id}")
    async def update(
        self,
        endpoint_id: uuid.UUID | str,
        *,
        url: str | None = None,
        events: Sequence[models.WebhookEvent] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> models.WebhookEndpoint:
        """Change what is given; enabling a disabled endpoint clears why it was."""
        given: dict[str, Any] = {
            "url": url,
            "events": None if events is None else builtins.list(events),
            "description": description,
            "enabled": enabled,
        }
        body = {k: v for k, v in given.items() if v is not None}
        answer = await self._t.call(
            "PATCH", f"/api/v1/webhooks/{endpoint_id}", json=body, repeatable=True
        )
        return _one(models.WebhookEndpoint, answer)

    @operation("DELETE", "/api/v1/webhooks/{endpoint_id}")
    async def delete(self, endpoint_id: uuid.UUID | str) -> None:
        await self._t.call("DELETE", f"/api/v1/webhooks/{endpoint_id}")

    @operation("POST", "/api/v1/webhooks/{endpoint_id}/rotate_secret")
    async def rotate_secret(self, endpoint_id: uuid.UUID | str) -> models.WebhookEndpointWithSecret:
        """A new secret; the old one keeps signing beside it for 24 hours."""
        answer = await self._t.call("POST", f"/api/v1/webhooks/{endpoint_id}/rotate_secret")
        return _one(models.WebhookEndpointWithSecret, answer)

    @operation("POST", "/api/v1/webhooks/{endpoint_id}/test")
    async def test(self, endpoint_id: uuid.UUID | str) -> models.WebhookQueued:
        answer = await self._t.call("POST", f"/api/v1/webhooks/{endpoint_id}/test")
        return _one(models.WebhookQueued, answer)

    @operation("GET", "/api/v1/webhooks/{endpoint_id}/deliveries")
    async def deliveries(
        self, endpoint_id: uuid.UUID | str, *, page: int = 1, limit: int = 20
    ) -> ListPage[models.WebhookAttempt]:
        """The endpoint's delivery attempts, newest first."""
        answer = await self._t.call(
            "GET",
            f"/api/v1/webhooks/{endpoint_id}/deliveries",
            params={"page": page, "limit": limit},
        )
        return _page(models.WebhookAttempt, answer)

    @operation("POST", "/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry")
    async def retry(
        self, endpoint_id: uuid.UUID | str, delivery_id: uuid.UUID | str
    ) -> models.WebhookQueued:
        """Send a delivery again now, under the same ``webhook-id``."""
        answer = await self._t.call(
            "POST",
            f"/api/v1/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry",
            repeatable=True,
        )
        return _one(models.WebhookQueued, answer)


class Suppressions(Resource):
    @operation("GET", "/api/v1/suppressions/")
    async def list(self, *, page: int = 1, limit: int = 20) -> ListPage[models.SuppressionOut]:
        answer = await self._t.call(
            "GET", "/api/v1/suppressions/", params={"page": page, "limit": limit}
        )
        return _page(models.SuppressionOut, answer)

    @operation("POST", "/api/v1/suppressions/")
    async def add(
        self, channel: models.Channel, address: str, reason: str | None = None
    ) -> models.SuppressionOut:
        body = {"channel": channel, "address": address}
        if reason is not None:
            body["reason"] = reason
        answer = await self._t.call("POST", "/api/v1/suppressions/", json=body, repeatable=True)
        return _one(models.SuppressionOut, answer)

    @operation("DELETE", "/api/v1/suppressions/{suppression_id}")
    async def remove(self, suppression_id: str) -> None:
        await self._t.call("DELETE", f"/api/v1/suppressions/{suppression_id}")


class Devices(Resource):
    @operation("POST", "/api/v1/users/{user_id}/devices")
    async def add(self, user_id: uuid.UUID | str, device: dict[str, Any]) -> models.DeviceOut:
        """``device``: ``{"kind": "fcm", "token"}``, ``{"kind": "webpush",
        "subscription"}`` or a chat, ``{"kind": "slack" | "discord" | "teams",
        "webhook_url"}``; registering one again is harmless."""
        answer = await self._t.call(
            "POST", f"/api/v1/users/{user_id}/devices", json=device, repeatable=True
        )
        return _one(models.DeviceOut, answer)

    @operation("GET", "/api/v1/users/{user_id}/devices")
    async def list(self, user_id: uuid.UUID | str) -> builtins.list[models.DeviceOut]:
        answer = await self._t.call("GET", f"/api/v1/users/{user_id}/devices")
        return TypeAdapter(list[models.DeviceOut]).validate_python(answer.data)

    @operation("DELETE", "/api/v1/users/{user_id}/devices/{device_id}")
    async def remove(self, user_id: uuid.UUID | str, device_id: uuid.UUID | str) -> None:
        await self._t.call("DELETE", f"/api/v1/users/{user_id}/devices/{device_id}")


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page of a feed, with the unread count and the stream's starting point."""

    items: list[models.FeedItemOut]
    meta: models.FeedMeta


FeedMark = Literal["read", "unread", "archive", "unarchive"]


class Feeds(Resource):
    """A user's in-app feed: with an admin key, or as the user (their login token or
    a feed token)."""

    @operation("GET", "/api/v1/users/{user_id}/feed")
    async def list(
        self,
        user_id: uuid.UUID | str,
        *,
        status: models.FeedStatus | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> FeedPage:
        """Newest first; ``status`` None: unread and read, not archived."""
        params = {"status": status, "page": page, "limit": limit}
        answer = await self._t.call("GET", f"/api/v1/users/{user_id}/feed", params=params)
        items = TypeAdapter(list[models.FeedItemOut]).validate_python(answer.data)
        return FeedPage(items, models.FeedMeta.model_validate(answer.meta))

    @operation("POST", "/api/v1/users/{user_id}/feed/{item_id}/{mark}")
    async def mark(
        self, user_id: uuid.UUID | str, item_id: uuid.UUID | str, mark: FeedMark
    ) -> models.FeedItemOut:
        answer = await self._t.call(
            "POST", f"/api/v1/users/{user_id}/feed/{item_id}/{mark}", repeatable=True
        )
        return _one(models.FeedItemOut, answer)

    @operation("POST", "/api/v1/users/{user_id}/feed/read_all")
    async def read_all(self, user_id: uuid.UUID | str) -> models.FeedCount:
        answer = await self._t.call(
            "POST", f"/api/v1/users/{user_id}/feed/read_all", repeatable=True
        )
        return _one(models.FeedCount, answer)

    @operation("POST", "/api/v1/users/{user_id}/feed/token")
    async def token(
        self, user_id: uuid.UUID | str, *, ttl_seconds: int | None = None
    ) -> models.FeedTokenOut:
        """A token for this user's feed alone, to hand to their browser (admin key)."""
        body = {"ttl_seconds": ttl_seconds} if ttl_seconds is not None else None
        answer = await self._t.call("POST", f"/api/v1/users/{user_id}/feed/token", json=body)
        return _one(models.FeedTokenOut, answer)

    @operation("GET", "/api/v1/users/{user_id}/feed/stream")
    async def stream(
        self, user_id: uuid.UUID | str, *, last_event_id: int | None = None
    ) -> AsyncIterator[models.FeedEvent]:
        """New items and the unread count as they happen, for as long as it is read.
        ``last_event_id``: the seq of the last item had; those after it come first
        (by default the stream starts from now)."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        lines = self._t.lines(f"/api/v1/users/{user_id}/feed/stream", headers=headers)
        async for event in sse.events(lines):
            if event.event == "item":
                yield models.FeedEvent(
                    event="item",
                    id=int(event.id) if event.id else None,
                    item=models.FeedItemOut.model_validate_json(event.data),
                )
            elif event.event == "unread":
                yield models.FeedEvent(event="unread", unread=json.loads(event.data)["unread"])


class Users(Resource):
    def __init__(self, transport: Transport) -> None:
        super().__init__(transport)
        self.devices = Devices(transport)
        self.feed = Feeds(transport)

    @operation("POST", "/api/v1/users/")
    async def create(
        self,
        *,
        name: str,
        email: str,
        password: str,
        preferences: dict[str, Any] | None = None,
        locale: str | None = None,
        timezone: str | None = None,
        push_token: str | None = None,
        role: Literal["user", "admin"] | None = None,
        phone: str | None = None,
    ) -> models.UserOut:
        body = {k: v for k, v in locals().items() if k != "self" and v is not None}
        return _one(models.UserOut, await self._t.call("POST", "/api/v1/users/", json=body))

    @operation("GET", "/api/v1/users/{user_id}")
    async def get(self, user_id: uuid.UUID | str) -> models.UserOut:
        return _one(models.UserOut, await self._t.call("GET", f"/api/v1/users/{user_id}"))

    @operation("PATCH", "/api/v1/users/{user_id}")
    async def update(self, user_id: uuid.UUID | str, /, **fields: Any) -> models.UserOut:
        """Any of ``name``, ``email``, ``password``, ``preferences``, ``locale``,
        ``timezone``, ``push_token``; what is not given is left as it is."""
        answer = await self._t.call("PATCH", f"/api/v1/users/{user_id}", json=fields)
        return _one(models.UserOut, answer)

    @operation("DELETE", "/api/v1/users/{user_id}")
    async def delete(self, user_id: uuid.UUID | str) -> None:
        await self._t.call("DELETE", f"/api/v1/users/{user_id}")

    @operation("GET", "/api/v1/users/")
    async def list(
        self, *, q: str | None = None, page: int = 1, limit: int = 20
    ) -> ListPage[models.UserOut]:
        """``q``: only users with it in their name or email, in any case."""
        params = {"q": q, "page": page, "limit": limit}
        return _page(models.UserOut, await self._t.call("GET", "/api/v1/users/", params=params))

    def every(self) -> AsyncIterator[models.UserOut]:
        return _every(lambda page: self.list(page=page, limit=100))

    @operation("PUT", "/api/v1/users/{user_id}/preferences")
    async def set_preferences(
        self,
        user_id: uuid.UUID | str,
        *,
        email: bool = True,
        push: bool = True,
        sms: bool = True,
        chat: bool = True,
        in_app: bool = True,
        quiet_hours: dict[str, str] | Literal["unchanged"] | None = "unchanged",
    ) -> models.Preferences:
        """``quiet_hours``: ``{"start": "22:00", "end": "07:00"}``, None to remove them,
        or left out to keep them."""
        body: dict[str, Any] = {
            "email": email,
            "push": push,
            "sms": sms,
            "chat": chat,
            "in_app": in_app,
        }
        if quiet_hours != "unchanged":
            body["quiet_hours"] = quiet_hours
        answer = await self._t.call("PUT", f"/api/v1/users/{user_id}/preferences", json=body)
        return _one(models.Preferences, answer)


class Auth(Resource):
    @operation("POST", "/api/v1/auth/login")
    async def login(self, email: str, password: str) -> models.TokenOut:
        """A user's token: make a client with it to act as that user."""
        answer = await self._t.call(
            "POST", "/api/v1/auth/login", json={"email": email, "password": password}
        )
        return _one(models.TokenOut, answer)


class Templates(Resource):
    @operation("POST", "/api/v1/templates/")
    async def save(self, /, **fields: Any) -> models.TemplateVersionOut:
        """A new version: ``code``, ``channel``, ``locale`` and the channel's fields
        (email: ``subject``, ``text_body``, ``html_body``; push: ``title``, ``body``,
        ``image``, ``link``)."""
        answer = await self._t.call("POST", "/api/v1/templates/", json=fields)
        return _one(models.TemplateVersionOut, answer)

    @operation("GET", "/api/v1/templates/")
    async def list(
        self, *, channel: models.Channel | None = None, page: int = 1, limit: int = 20
    ) -> ListPage[models.TemplateSummary]:
        params = {"channel": channel, "page": page, "limit": limit}
        answer = await self._t.call("GET", "/api/v1/templates/", params=params)
        return _page(models.TemplateSummary, answer)

    @operation("GET", "/api/v1/templates/{code}")
    async def get(
        self,
        code: str,
        *,
        channel: models.Channel | None = None,
        locale: str | None = None,
        version: int | None = None,
    ) -> models.TemplateVersionOut:
        params = {"channel": channel, "locale": locale, "version": version}
        answer = await self._t.call("GET", f"/api/v1/templates/{code}", params=params)
        return _one(models.TemplateVersionOut, answer)

    @operation("GET", "/api/v1/templates/{code}/versions")
    async def versions(
        self, code: str, *, channel: models.Channel, locale: str | None = None
    ) -> builtins.list[models.TemplateVersionOut]:
        params = {"channel": channel, "locale": locale}
        answer = await self._t.call("GET", f"/api/v1/templates/{code}/versions", params=params)
        return TypeAdapter(list[models.TemplateVersionOut]).validate_python(answer.data)

    @operation("POST", "/api/v1/templates/render")
    async def render(
        self, template: dict[str, Any], *, variables: dict[str, Any] | None = None
    ) -> models.Rendered:
        """Render a template that is not saved (``template``: what ``save`` takes), as
        saving would check it; its version is 0."""
        body = {"template": template, "variables": variables or {}}
        answer = await self._t.call("POST", "/api/v1/templates/render", json=body, repeatable=True)
        return _one(models.Rendered, answer)

    @operation("POST", "/api/v1/templates/{code}/preview")
    async def preview(
        self,
        code: str,
        *,
        channel: models.Channel,
        variables: dict[str, Any] | None = None,
        locale: str | None = None,
        version: int | None = None,
    ) -> models.Rendered:
        body: dict[str, Any] = {"channel": channel, "variables": variables or {}, "locale": locale}
        if version is not None:
            body["version"] = version
        answer = await self._t.call(
            "POST", f"/api/v1/templates/{code}/preview", json=body, repeatable=True
        )
        return _one(models.Rendered, answer)


class Push(Resource):
    @operation("GET", "/api/v1/push/vapid_public_key")
    async def vapid_public_key(self) -> str:
        answer = await self._t.call("GET", "/api/v1/push/vapid_public_key")
        return str(answer.data["public_key"])
