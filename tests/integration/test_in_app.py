"""In-app feeds end to end, on embedded adapters and on the real servers, served over
TCP so that the event stream is read as a browser reads it: an item stored and shown
live, resumed with Last-Event-ID, read, unread, archived and read all; who may read a
feed; a topic's subscribers each getting one item; and what is never stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from herald_client import sse

from tests.integration.pipeline import Stack, stack_on
from tests.integration.test_pipeline import new_key

FAST = {"retry_base_delay": 0.1, "retry_max_delay": 0.5}


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_on(request.param, tmp_path, tcp=True, **FAST) as s:
        yield s


def in_app(user_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "notification_type": "in_app",
        "user_id": user_id,
        "template_code": "welcome",
        "variables": {"name": "Ada", "link": "https://example.com/start"},
        "request_id": uuid.uuid4().hex,
        **overrides,
    }


async def delivered(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    answer = await stack.send(body)
    assert answer.status_code == 202, answer.text
    return await stack.until(answer.json()["data"]["notification_id"], "delivered")


async def feed_token(stack: Stack, user_id: str) -> dict[str, str]:
    made = await stack.client.post(f"/api/v1/users/{user_id}/feed/token", headers=stack.auth)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['data']['token']}"}


class Events:
    """A feed's event stream, read line by line as it arrives."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._events = sse.events(lines)

    async def next(self, timeout: float = 10.0) -> tuple[str, Any, str | None]:
        async with asyncio.timeout(timeout):
            found = await anext(self._events)
        return found.event, json.loads(found.data), found.id


@asynccontextmanager
async def stream(
    stack: Stack, user_id: str, headers: dict[str, str], last: str | None = None
) -> AsyncIterator[Events]:
    wanted = {**headers, **({"Last-Event-ID": last} if last is not None else {})}
    path = f"/api/v1/users/{user_id}/feed/stream"
    async with stack.client.stream("GET", path, headers=wanted) as answer:
        assert answer.status_code == 200, await answer.aread()
        assert answer.headers["content-type"].startswith("text/event-stream")
        yield Events(answer.aiter_lines())


async def test_an_item_is_stored_shown_live_and_marked(stack: Stack) -> None:
    user = await stack.user()
    mine = await feed_token(stack, user["id"])
    async with stream(stack, user["id"], mine) as events:
        assert await events.next() == ("unread", {"unread": 0}, None)
        found = await delivered(stack, in_app(user["id"]))
        name, item, event_id = await events.next()
        assert name == "item" and item["id"] == found["notification_id"]
        assert (item["title"], item["body"]) == (
            "Welcome, Ada!",
            "Your account is ready. Start here.",
        )
        assert item["link"] == "https://example.com/start" and item["status"] == "unread"
        assert event_id == str(item["seq"])
        assert await events.next() == ("unread", {"unread": 1}, None)

        listed = (await stack.client.get(f"/api/v1/users/{user['id']}/feed", headers=mine)).json()
        assert [i["id"] for i in listed["data"]] == [item["id"]]
        assert listed["meta"]["unread"] == 1 and listed["meta"]["last_event_id"] == item["seq"]

        base = f"/api/v1/users/{user['id']}/feed/{item['id']}"
        read = await stack.client.post(f"{base}/read", headers=mine)
        assert read.status_code == 200 and read.json()["data"]["status"] == "read"
        assert await events.next() == ("unread", {"unread": 0}, None)
        await stack.client.post(f"{base}/unread", headers=mine)
        assert await events.next() == ("unread", {"unread": 1}, None)
        archived = await stack.client.post(f"{base}/archive", headers=mine)
        assert archived.json()["data"]["status"] == "archived"
        assert await events.next() == ("unread", {"unread": 0}, None)

    feed = f"/api/v1/users/{user['id']}/feed"
    shown = (await stack.client.get(feed, headers=mine)).json()
    assert shown["data"] == [] and shown["meta"]["total"] == 0
    kept = (await stack.client.get(feed, params={"status": "archived"}, headers=mine)).json()
    assert [i["id"] for i in kept["data"]] == [item["id"]]
    back = await stack.client.post(f"{feed}/{item['id']}/unarchive", headers=mine)
    assert back.json()["data"]["status"] == "unread"

    # Delivered means stored and told: its history names the feed item.
    history = found["history"] or (await stack.status(found["notification_id"]))["history"]
    assert any("feed item" in (h.get("provider_response") or "") for h in history or [])


async def test_the_stream_resumes_from_last_event_id(stack: Stack) -> None:
    user = await stack.user()
    mine = await feed_token(stack, user["id"])
    first = await delivered(stack, in_app(user["id"]))
    second = await delivered(stack, in_app(user["id"]))
    async with stream(stack, user["id"], mine, last="0") as events:
        got = [await events.next() for _ in range(3)]
        assert [(n, i["id"]) for n, i, _ in got[:2]] == [
            ("item", first["notification_id"]),
            ("item", second["notification_id"]),
        ]
        assert got[2] == ("unread", {"unread": 2}, None)
        after_first = got[0][2]
    async with stream(stack, user["id"], mine, last=after_first) as events:
        name, item, _ = await events.next()
        assert (name, item["id"]) == ("item", second["notification_id"])
    bad = await stack.client.get(
        f"/api/v1/users/{user['id']}/feed/stream", headers={**mine, "Last-Event-ID": "yesterday"}
    )
    assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["error"]

    done = await stack.client.post(f"/api/v1/users/{user['id']}/feed/read_all", headers=mine)
    assert done.json()["data"] == {"unread": 0, "changed": 2}


async def test_who_may_read_a_feed(stack: Stack) -> None:
    ada, grace = await stack.user(), await stack.user(name="Grace")
    feed = f"/api/v1/users/{ada['id']}/feed"
    assert (await stack.client.get(feed)).status_code == 401
    assert (await stack.client.get(feed, headers=stack.auth)).status_code == 200  # admin key

    login = await stack.client.post(
        "/api/v1/auth/login", json={"email": ada["email"], "password": "correct horse"}
    )
    own = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    assert (await stack.client.get(feed, headers=own)).status_code == 200

    graces = await feed_token(stack, grace["id"])
    refused = await stack.client.get(feed, headers=graces)
    assert refused.status_code == 403
    # A feed token opens its feed and nothing else.
    elsewhere = await stack.client.get(f"/api/v1/users/{grace['id']}", headers=graces)
    assert elsewhere.status_code == 401

    sender = {"Authorization": f"Bearer {await new_key(stack, ['send'])}"}
    assert (await stack.client.get(feed, headers=sender)).status_code == 403
    by_user = await stack.client.post(f"/api/v1/users/{ada['id']}/feed/token", headers=own)
    assert by_user.status_code == 403
    nobody = await stack.client.post(f"/api/v1/users/{uuid.uuid4()}/feed/token", headers=stack.auth)
    assert nobody.status_code == 404
    long = await stack.client.post(
        f"/api/v1/users/{ada['id']}/feed/token", json={"ttl_seconds": 10**6}, headers=stack.auth
    )
    assert long.status_code == 422
    missing = await stack.client.post(f"{feed}/{uuid.uuid4()}/read", headers=stack.auth)
    assert missing.status_code == 404
    wrong = await stack.client.post(f"{feed}/{uuid.uuid4()}/delete", headers=stack.auth)
    assert wrong.status_code == 422


async def test_a_topic_gives_each_subscriber_one_item(stack: Stack) -> None:
    users = [await stack.user(name=f"User {i}") for i in range(3)]
    topic = await stack.client.post(
        "/api/v1/topics/", json={"key": "news", "name": "News"}, headers=stack.auth
    )
    assert topic.status_code == 201, topic.text
    added = await stack.client.post(
        "/api/v1/topics/news/subscribers",
        json={"user_ids": [u["id"] for u in users]},
        headers=stack.auth,
    )
    assert added.status_code == 200, added.text
    body = in_app(users[0]["id"])
    del body["user_id"]
    answer = await stack.send({**body, "topic": "news"})
    assert answer.status_code == 202, answer.text
    for user in users:
        for _ in range(100):
            feed = await stack.client.get(f"/api/v1/users/{user['id']}/feed", headers=stack.auth)
            if feed.json()["data"]:
                break
            await asyncio.sleep(0.1)
        assert [i["title"] for i in feed.json()["data"]] == ["Welcome, Ada!"]


async def test_what_is_never_stored(stack: Stack) -> None:
    quiet = await stack.user(preferences={"in_app": False})
    skipped = await stack.send(in_app(quiet["id"]))
    assert skipped.json()["data"]["status"] == "skipped"
    assert skipped.json()["data"]["reason"] == "user turned in_app notifications off"

    direct = in_app(quiet["id"])
    del direct["user_id"]
    refused = await stack.send({**direct, "to": {"email": "ada@example.com"}})
    assert refused.status_code == 422 and "feed" in refused.json()["error"]

    script = await stack.client.post(
        "/api/v1/templates/",
        json={
            "code": "sneaky",
            "channel": "in_app",
            "title": "Hi",
            "body": "Click",
            "link": "{{ target }}",
        },
        headers=stack.auth,
    )
    assert script.status_code == 201, script.text
    user = await stack.user()
    answer = await stack.send(
        in_app(user["id"], template_code="sneaky", variables={"target": "javascript:alert(1)"})
    )
    failed = await stack.until(answer.json()["data"]["notification_id"], "failed")
    assert "http(s) URL" in failed["last_error"]
    feed = await stack.client.get(f"/api/v1/users/{user['id']}/feed", headers=stack.auth)
    assert feed.json()["data"] == []


async def test_a_message_delivered_twice_is_one_item(stack: Stack) -> None:
    from herald.adapters.db.engine import create_engine
    from herald.kit.db import sessionmaker
    from herald.services.gateway.feed.store import FeedStore, NewItem

    engine = create_engine(stack.settings.database_url_for("gateway"))
    try:
        feeds = FeedStore(sessionmaker(engine))
        user, notification = uuid.uuid4(), uuid.uuid4()
        new = NewItem(notification, user, "welcome", "Hi", "There", None, None)
        first, again = await feeds.add(new), await feeds.add(new)
        assert first == again
        items, unread = await feeds.since(user, 0, 10)
        assert [i.notification_id for i in items] == [notification] and unread == 1
    finally:
        await engine.dispose()


async def test_streams_are_not_requests_in_progress(tmp_path: Path) -> None:
    """Streams stay open, bounded by their own limit; the gateway's limit on requests
    in progress is for the rest."""
    async with stack_on("embedded", tmp_path, tcp=True, max_in_flight=1, feed_max_streams=2) as s:
        user = await s.user()
        mine = await feed_token(s, user["id"])
        async with stream(s, user["id"], mine), stream(s, user["id"], mine):
            answer = await s.client.get(f"/api/v1/users/{user['id']}/feed", headers=mine)
            assert answer.status_code == 200
            third = await s.client.get(f"/api/v1/users/{user['id']}/feed/stream", headers=mine)
            assert third.status_code == 503 and "feed streams" in third.json()["error"]
