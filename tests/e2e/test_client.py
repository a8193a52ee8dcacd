"""herald-client against a real ``herald dev``: every public route of its
``/openapi.json`` is a method of the client and every field of its answers a field of
the client's models; both clients, used as a developer would; typed errors; retries
of real 429s, and of connections that fail only where a second try is harmless."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from herald_client import AsyncHerald, Herald, Invalid, NotFound, Unreachable, models
from herald_client.resources import (
    OPERATIONS,
    Feeds,
    Notifications,
    Templates,
    Users,
    Webhooks,
)
from pydantic import BaseModel

from tests.e2e.conftest import Dev
from tests.smtp import free_port
from tests.webhookreceiver import WebhookReceiver

# Public routes a client library has no business calling, and why.
NOT_FOR_CLIENTS = {
    ("GET", "/api/v1/"): "the index: links for people",
    ("GET", "/api/v1/unsubscribe/{token}"): "the link in a mail, followed by its reader",
    ("POST", "/api/v1/unsubscribe/{token}"): "one-click unsubscribe, posted by mail clients",
    ("POST", "/api/v1/sms/status/twilio"): "Twilio's own receipts, signed by Twilio",
}

# Each answer's schema in /openapi.json, and the client's model of it.
ANSWERS: dict[str, type[BaseModel]] = {
    "Accepted": models.Accepted,
    "NotificationOut": models.NotificationOut,
    "HistoryEntry": models.HistoryEntry,
    "Fanout": models.Fanout,
    "BatchItem": models.BatchItem,
    "TopicOut": models.TopicOut,
    "SubscribersChanged": models.SubscribersChanged,
    "SubscriberOut": models.SubscriberOut,
    "SuppressionOut": models.SuppressionOut,
    "UserOut": models.UserOut,
    "Preferences": models.Preferences,
    "QuietHoursIn": models.QuietHours,
    "DeviceOut": models.DeviceOut,
    "TokenOut": models.TokenOut,
    "TemplateSummary": models.TemplateSummary,
    "TemplateVersionOut": models.TemplateVersionOut,
    "Rendered": models.Rendered,
    "PaginationMeta": models.Page,
    "EndpointOut": models.WebhookEndpoint,
    "EndpointWithSecret": models.WebhookEndpointWithSecret,
    "AttemptOut": models.WebhookAttempt,
    "Queued": models.WebhookQueued,
    "FeedItemOut": models.FeedItemOut,
    "FeedMeta": models.FeedMeta,
    "FeedCount": models.FeedCount,
    "FeedTokenOut": models.FeedTokenOut,
}

# Each request body's schema, and the client method that takes its fields.
BODIES: dict[str, Callable[..., Any]] = {
    "NotificationIn": Notifications.send,
    "UserCreate": Users.create,
    "PreviewIn": Templates.preview,
    "EndpointIn": Webhooks.create,
    "EndpointPatch": Webhooks.update,
    "FeedTokenIn": Feeds.token,
}


@pytest_asyncio.fixture
async def dev(dev_factory: Callable[..., Dev]) -> AsyncIterator[Dev]:
    running = dev_factory(HERALD_RATE_LIMIT_PER_RECIPIENT="3/second")
    await running.start()
    yield running


def key(dev: Dev) -> str:
    return dev.auth["Authorization"].removeprefix("Bearer ")


async def test_the_client_covers_every_public_route_and_field(dev: Dev) -> None:
    async with httpx.AsyncClient(base_url=dev.url) as http:
        document = (await http.get("/openapi.json")).json()
    routes = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if path.startswith("/api/v1/") and method in ("get", "post", "put", "patch", "delete")
    }
    assert routes - OPERATIONS - set(NOT_FOR_CLIENTS) == set(), "routes the client lacks"
    assert OPERATIONS - routes == set(), "client methods for routes Herald does not have"

    schemas = document["components"]["schemas"]
    for name, model in ANSWERS.items():
        lacking = set(schemas[name]["properties"]) - set(model.model_fields)
        assert not lacking, f"{model.__name__} lacks {lacking} of {name}"
    for name, method in BODIES.items():
        taken = set(inspect.signature(method).parameters)
        lacking = set(schemas[name]["properties"]) - taken
        assert not lacking, f"{method.__qualname__} does not take {lacking} of {name}"


async def test_a_developer_sends_follows_and_cancels_with_the_async_client(dev: Dev) -> None:
    async with AsyncHerald(dev.url, key(dev)) as herald:
        assert key(dev) not in repr(herald)
        user = await herald.users.create(
            name="Ada", email=f"ada-{uuid.uuid4().hex[:6]}@example.com", password="correct horse"
        )
        accepted = await herald.notifications.send(
            notification_type="email",
            user_id=user.id,
            template_code="welcome",
            variables={"name": "Ada", "link": "https://example.com"},
        )
        assert accepted.status == "pending" and accepted.request_id  # one was made
        for _ in range(100):
            found = await herald.notifications.get(accepted.notification_id)
            if found.status == "delivered":
                break
            await asyncio.sleep(0.1)
        assert found.status == "delivered" and found.history is not None

        # The same request_id again: the same notification, not a second one.
        again = await herald.notifications.send(
            notification_type="email",
            user_id=user.id,
            template_code="welcome",
            variables={"name": "Ada", "link": "https://example.com"},
            request_id=accepted.request_id,
        )
        assert again.notification_id == accepted.notification_id

        later = await herald.notifications.send(
            notification_type="email",
            user_id=user.id,
            template_code="welcome",
            variables={"name": "Ada", "link": "https://example.com"},
            send_at=datetime.now(UTC) + timedelta(hours=1),
        )
        assert later.status == "scheduled"
        assert (await herald.notifications.cancel(later.notification_id)).status == "cancelled"

        everything = [n async for n in herald.notifications.every(user_id=user.id)]
        assert {n.notification_id for n in everything} == {
            accepted.notification_id,
            later.notification_id,
        }
        batch = await herald.notifications.send_batch(
            [
                {
                    "notification_type": "email",
                    "user_id": str(user.id),
                    "template_code": "welcome",
                    "variables": {"name": "Ada", "link": "https://example.com"},
                },
                {"notification_type": "fax"},
            ]
        )
        assert [b.status_code for b in batch] == [202, 422]

        await herald.topics.create("news", "News")
        changed = await herald.topics.subscribe("news", [user.id])
        assert changed.subscribers == 1
        assert [s.user_id for s in (await herald.topics.subscribers("news")).items] == [user.id]

        rendered = await herald.templates.preview(
            "welcome", channel="email", variables={"name": "Grace", "link": "https://x.example"}
        )
        assert rendered.subject == "Welcome, Grace!"
        prefs = await herald.users.set_preferences(
            user.id, quiet_hours={"start": "22:00", "end": "07:00"}
        )
        assert prefs.quiet_hours == models.QuietHours(start="22:00", end="07:00")

        # The in-app feed: the token a page gets, the live stream, and marking.
        stream = herald.users.feed.stream(user.id, last_event_id=0)
        assert (await anext(stream)).unread == 0
        shown = await herald.notifications.send(
            notification_type="in_app",
            user_id=user.id,
            template_code="welcome",
            variables={"name": "Ada", "link": "https://example.com"},
        )
        event = await asyncio.wait_for(anext(stream), 10)
        assert event.item is not None and event.item.id == shown.notification_id
        assert event.id == event.item.seq
        await stream.aclose()
        page_token = await herald.users.feed.token(user.id, ttl_seconds=600)
        async with AsyncHerald(dev.url, page_token.token) as page:
            feed = await page.users.feed.list(user.id)
            assert [i.title for i in feed.items] == ["Welcome, Ada!"] and feed.meta.unread == 1
            read = await page.users.feed.mark(user.id, shown.notification_id, "read")
            assert read.status == "read"
            assert (await page.users.feed.read_all(user.id)).unread == 0

        token = await herald.auth.login(user.email, "correct horse")
        assert token.access_token not in repr(token)
        async with AsyncHerald(dev.url, token.access_token) as me:
            assert (await me.users.get(user.id)).email == user.email

        with pytest.raises(NotFound) as missing:
            await herald.notifications.get(uuid.uuid4())
        assert missing.value.status_code == 404 and "notification" in missing.value.error
        with pytest.raises(Invalid) as invalid:
            await herald.notifications.send(
                notification_type="email",
                user_id=user.id,
                template_code="welcome",
                variables={"name": "Ada"},
                priority=42,
            )
        assert "priority" in invalid.value.error


async def test_the_blocking_client_has_the_same_surface(dev: Dev) -> None:
    def use() -> list[str]:
        with Herald(dev.url, key(dev)) as herald:
            user = herald.users.create(
                name="Bo", email=f"bo-{uuid.uuid4().hex[:6]}@example.com", password="correct horse"
            )
            sent = herald.notifications.send(
                notification_type="email",
                user_id=user.id,
                template_code="welcome",
                variables={"name": "Bo", "link": "https://example.com"},
            )
            # Three a second per recipient here: the rest meet real 429s, which are
            # retried after their Retry-After.
            more = [
                herald.notifications.send(
                    notification_type="email",
                    user_id=user.id,
                    template_code="welcome",
                    variables={"name": "Bo", "link": "https://example.com"},
                )
                for _ in range(6)
            ]
            listed = list(herald.notifications.every(user_id=user.id))
            ids = {str(sent.notification_id), *(str(m.notification_id) for m in more)}
            return [*sorted(ids), str(len(listed))]

    ids = await asyncio.to_thread(use)
    assert len(ids) == 8 and ids[-1] == "7"


class Counting(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await super().handle_async_request(request)


async def test_a_failed_connection_is_tried_again_only_where_that_is_harmless() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    counting = Counting()
    async with AsyncHerald(nowhere, "hk_x", retries=2, backoff=0.01, transport=counting) as h:
        with pytest.raises(Unreachable):
            await h.notifications.send(
                notification_type="email", user_id=uuid.uuid4(), template_code="t", variables={}
            )
        assert counting.requests == 3  # a send carries its request_id: tried again
        counting.requests = 0
        with pytest.raises(Unreachable):
            await h.users.create(name="A", email="a@example.com", password="x" * 8)
        assert counting.requests == 1  # a second user could be made: not tried again


async def test_a_developer_registers_a_webhook_and_verifies_what_arrives(dev: Dev) -> None:
    from herald_client.webhooks import verify

    receiver = WebhookReceiver()
    await receiver.start()
    try:
        async with AsyncHerald(dev.url, key(dev)) as herald:
            endpoint = await herald.webhooks.create(receiver.url(), ["notification.delivered"])
            assert endpoint.secret not in repr(endpoint)
            queued = await herald.webhooks.test(endpoint.id)
            [hook] = await receiver.wait_for(1)
            event = verify(endpoint.secret, hook.headers, hook.body)
            assert event["type"] == "webhook.test"
            assert hook.headers["webhook-id"] == queued.webhook_id
            for _ in range(100):
                log = await herald.webhooks.deliveries(endpoint.id)
                if log.items:
                    break
                await asyncio.sleep(0.05)
            assert [(a.outcome, a.response_status) for a in log.items] == [("delivered", 200)]
            changed = await herald.webhooks.update(endpoint.id, enabled=False)
            assert changed.enabled is False
            await herald.webhooks.delete(endpoint.id)
            with pytest.raises(NotFound):
                await herald.webhooks.get(endpoint.id)
    finally:
        await receiver.stop()
