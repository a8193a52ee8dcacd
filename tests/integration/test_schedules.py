"""When notifications go (SPEC.md §6.2): at a time asked for, after the recipient's
quiet hours, or together in a digest; and cancelled before they go. On the embedded
adapters and on the real servers, on a clock the tests move."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.clock import ManualClock
from tests.integration.pipeline import Stack, stack_on
from tests.integration.test_audiences import wait_for_mail
from tests.smtp import SmtpServer

NOON = "2026-06-01T12:00:00+00:00"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOON)


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer, clock: ManualClock
) -> AsyncIterator[Stack]:
    async with stack_on(request.param, tmp_path, clock, smtp_url=smtp_server.url) as s:
        yield s


def at(clock: ManualClock, **delta: float) -> str:
    return (clock.now() + timedelta(**delta)).isoformat()


async def history(stack: Stack, notification_id: str) -> list[str]:
    return [h["status"] for h in (await stack.status(notification_id))["history"]]


class TestSendAt:
    async def test_a_scheduled_notification_goes_when_its_time_comes(
        self, stack: Stack, smtp_server: SmtpServer, clock: ManualClock
    ) -> None:
        user = await stack.user()
        due = at(clock, minutes=30)
        sent = await stack.send(stack.notification(user["id"], send_at=due))
        assert sent.status_code == 202, sent.text
        data = sent.json()["data"]
        assert data["status"] == "scheduled"
        assert datetime.fromisoformat(data["send_at"]) == datetime.fromisoformat(due)

        clock.advance(minutes=29)
        waited = await stack.status(data["notification_id"])
        assert waited["status"] == "scheduled" and not smtp_server.received

        clock.advance(minutes=1)
        await stack.until(data["notification_id"], "delivered")
        assert len(smtp_server.received) == 1
        assert await history(stack, data["notification_id"]) == [
            "scheduled",
            "pending",
            "delivered",
        ]

        # A time already past sends at once.
        past = await stack.send(stack.notification(user["id"], send_at=at(clock, minutes=-5)))
        assert past.json()["data"]["status"] == "pending", past.text
        await stack.until(past.json()["data"]["notification_id"], "delivered")

    async def test_a_batch_and_a_topic_send_can_be_scheduled(
        self, stack: Stack, smtp_server: SmtpServer, clock: ManualClock
    ) -> None:
        ada, grace = await stack.user(), await stack.user(name="Grace")
        await stack.client.post(
            "/api/v1/topics/", json={"key": "news", "name": "News"}, headers=stack.auth
        )
        await stack.client.post(
            "/api/v1/topics/news/subscribers", json={"user_ids": [grace["id"]]}, headers=stack.auth
        )
        due = at(clock, hours=1)
        batch = await stack.client.post(
            "/api/v1/notifications/batch",
            headers=stack.auth,
            json={"notifications": [stack.notification(ada["id"], send_at=due)]},
        )
        assert batch.status_code == 207, batch.text
        one = batch.json()["data"][0]["notification_id"]
        topic = await stack.send(
            {**stack.notification(ada["id"], send_at=due), "user_id": None, "topic": "news"}
        )
        parent = topic.json()["data"]["notification_id"]
        assert (await stack.status(one))["status"] == "scheduled"
        assert (await stack.status(parent))["status"] == "scheduled"

        clock.advance(hours=1)
        await stack.until(one, "delivered")
        await stack.until(parent, "delivered")
        await wait_for_mail(smtp_server, 2)
        assert sorted(m["To"] for m in smtp_server.received) == sorted(
            [ada["email"], grace["email"]]
        )


class TestCancel:
    async def test_a_cancelled_notification_is_never_sent(
        self, stack: Stack, smtp_server: SmtpServer, clock: ManualClock
    ) -> None:
        user = await stack.user()
        sent = await stack.send(stack.notification(user["id"], send_at=at(clock, minutes=10)))
        nid = sent.json()["data"]["notification_id"]
        cancelled = await stack.client.post(
            f"/api/v1/notifications/{nid}/cancel", headers=stack.auth
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["data"]["status"] == "cancelled"

        # A notification sent at once is the witness that the scheduler ran past it.
        clock.advance(minutes=11)
        witness = await stack.send(stack.notification(user["id"]))
        await stack.until(witness.json()["data"]["notification_id"], "delivered")
        later = await stack.send(stack.notification(user["id"], send_at=at(clock, seconds=-1)))
        await stack.until(later.json()["data"]["notification_id"], "delivered")
        assert len(smtp_server.received) == 2
        assert (await stack.status(nid))["status"] == "cancelled"
        assert await history(stack, nid) == ["scheduled", "cancelled"]

    async def test_only_a_scheduled_notification_can_be_cancelled(
        self, stack: Stack, clock: ManualClock
    ) -> None:
        user = await stack.user()
        sent = await stack.send(stack.notification(user["id"]))
        nid = sent.json()["data"]["notification_id"]
        await stack.until(nid, "delivered")
        late = await stack.client.post(f"/api/v1/notifications/{nid}/cancel", headers=stack.auth)
        assert late.status_code == 409 and "delivered" in late.json()["error"]

        missing = await stack.client.post(
            f"/api/v1/notifications/{uuid.uuid4()}/cancel", headers=stack.auth
        )
        assert missing.status_code == 404

        scheduled = await stack.send(stack.notification(user["id"], send_at=at(clock, hours=1)))
        sid = scheduled.json()["data"]["notification_id"]
        first = await stack.client.post(f"/api/v1/notifications/{sid}/cancel", headers=stack.auth)
        again = await stack.client.post(f"/api/v1/notifications/{sid}/cancel", headers=stack.auth)
        assert first.status_code == 200 and again.status_code == 409
        assert "cancelled" in again.json()["error"]


class TestQuietHours:
    async def test_a_notification_inside_quiet_hours_waits_for_their_end(
        self, stack: Stack, smtp_server: SmtpServer, clock: ManualClock
    ) -> None:
        # 23:30 UTC is 01:30 in Paris (summer time): inside 22:00 to 07:00, which ends
        # at 05:00 UTC.
        clock.set("2026-06-01T23:30:00+00:00")
        user = await stack.user(
            timezone="Europe/Paris",
            preferences={
                "email": True,
                "push": True,
                "quiet_hours": {"start": "22:00", "end": "07:00"},
            },
        )
        assert user["preferences"]["quiet_hours"] == {"start": "22:00", "end": "07:00"}
        held = await stack.send(stack.notification(user["id"]))
        data = held.json()["data"]
        assert data["status"] == "scheduled", data
        assert datetime.fromisoformat(data["send_at"]) == datetime.fromisoformat(
            "2026-06-02T05:00:00+00:00"
        )
        urgent = await stack.send(stack.notification(user["id"], priority=8))
        assert urgent.json()["data"]["status"] == "pending"
        await stack.until(urgent.json()["data"]["notification_id"], "delivered")
        assert len(smtp_server.received) == 1
        # An item in the feed interrupts nobody: quiet hours do not hold it.
        item = await stack.send(stack.notification(user["id"], notification_type="in_app"))
        assert item.json()["data"]["status"] == "pending"
        await stack.until(item.json()["data"]["notification_id"], "delivered")

        clock.set("2026-06-02T05:00:00+00:00")
        await stack.until(data["notification_id"], "delivered")
        assert len(smtp_server.received) == 2


async def digest_template(stack: Stack) -> None:
    created = await stack.email_template(
        "comments",
        subject="{{ digest.count }} new comments for {{ name }}",
        text_body="{% for item in digest.items %}- {{ item.comment }}\n{% endfor %}",
    )
    assert created.status_code == 201, created.text


def comment(user_id: str, text: str, **overrides: Any) -> dict[str, Any]:
    return {
        "notification_type": "email",
        "user_id": user_id,
        "template_code": "comments",
        "variables": {"name": "Ada", "comment": text},
        "request_id": uuid.uuid4().hex,
        "digest": {"key": "post-1", "window_seconds": 600},
        **overrides,
    }


class TestDigests:
    async def test_members_of_one_window_make_one_message(
        self, stack: Stack, smtp_server: SmtpServer, clock: ManualClock
    ) -> None:
        await digest_template(stack)
        user = await stack.user()
        ids = []
        for text in ("first", "second", "third"):
            sent = await stack.send(comment(user["id"], text))
            assert sent.status_code == 202, sent.text
            ids.append(sent.json()["data"]["notification_id"])
            clock.advance(seconds=60)
        members = [await stack.status(i) for i in ids]
        assert {m["status"] for m in members} == {"scheduled"}
        assert len({m["digest_id"] for m in members}) == 1

        clock.advance(seconds=600)
        for i in ids:
            await stack.until(i, "delivered")
        assert len(smtp_server.received) == 1
        mail = smtp_server.received[0]
        assert mail["Subject"] == "3 new comments for Ada"
        assert "- first\n- second\n- third" in mail.get_body(("plain",)).get_content()
        assert await history(stack, ids[0]) == ["scheduled", "pending", "delivered"]

        # A member arriving after the close opens the next window.
        late = await stack.send(comment(user["id"], "fourth"))
        assert (await stack.status(late.json()["data"]["notification_id"]))["digest_id"] not in {
            m["digest_id"] for m in members
        }

    async def test_a_cancelled_member_is_left_out_and_an_empty_window_sends_nothing(
        self, stack: Stack, smtp_server: SmtpServer, clock: ManualClock
    ) -> None:
        await digest_template(stack)
        ada, grace = await stack.user(), await stack.user()
        kept = await stack.send(comment(ada["id"], "kept"))
        dropped = await stack.send(comment(ada["id"], "dropped"))
        alone = await stack.send(comment(grace["id"], "alone"))
        for sent in (dropped, alone):
            nid = sent.json()["data"]["notification_id"]
            cancel = await stack.client.post(
                f"/api/v1/notifications/{nid}/cancel", headers=stack.auth
            )
            assert cancel.status_code == 200, cancel.text

        clock.advance(seconds=601)
        await stack.until(kept.json()["data"]["notification_id"], "delivered")
        witness = await stack.send(stack.notification(ada["id"]))
        await stack.until(witness.json()["data"]["notification_id"], "delivered")
        subjects = [m["Subject"] for m in smtp_server.received]
        assert subjects.count("1 new comments for Ada") == 1 and len(subjects) == 2
        assert (await stack.status(alone.json()["data"]["notification_id"]))["status"] == (
            "cancelled"
        )

    async def test_a_topic_send_digests_per_subscriber(
        self, stack: Stack, smtp_server: SmtpServer, clock: ManualClock
    ) -> None:
        await digest_template(stack)
        users = [await stack.user(), await stack.user()]
        await stack.client.post(
            "/api/v1/topics/", json={"key": "post-1", "name": "Post 1"}, headers=stack.auth
        )
        await stack.client.post(
            "/api/v1/topics/post-1/subscribers",
            json={"user_ids": [u["id"] for u in users]},
            headers=stack.auth,
        )
        parents = []
        for text in ("one", "two"):
            sent = await stack.send(
                {**comment(users[0]["id"], text), "user_id": None, "topic": "post-1"}
            )
            assert sent.status_code == 202, sent.text
            parents.append(sent.json()["data"]["notification_id"])
        for p in parents:
            await stack.until(p, "delivered")  # the fan-out is done
        clock.advance(seconds=601)
        await wait_for_mail(smtp_server, 2)
        assert sorted(m["To"] for m in smtp_server.received) == sorted(u["email"] for u in users)
        assert {m["Subject"] for m in smtp_server.received} == {"2 new comments for Ada"}


@pytest_asyncio.fixture
async def embedded(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Stack]:
    """For what is refused at the door: the same code on both adapters."""
    async with stack_on("embedded", tmp_path, clock) as s:
        yield s


class TestRefused:
    async def test_a_time_that_cannot_be_kept_is_refused(self, embedded: Stack) -> None:
        user = await embedded.user()
        for send_at, error in (
            ("2026-06-01T13:00:00", "timezone"),  # no offset
            ("2026-09-01T12:00:01+00:00", "at most 90 days ahead"),
            ("tomorrow", "datetime"),
        ):
            refused = await embedded.send(embedded.notification(user["id"], send_at=send_at))
            assert refused.status_code == 422, refused.text
            assert error in refused.json()["error"] and "send_at" in refused.json()["error"]

    async def test_a_digest_and_a_time_together_are_refused(self, embedded: Stack) -> None:
        user = await embedded.user()
        refused = await embedded.send(comment(user["id"], "x", send_at="2026-06-01T13:00:00Z"))
        assert refused.status_code == 422 and "not both" in refused.json()["error"]
        short = await embedded.send(
            comment(user["id"], "x", digest={"key": "k", "window_seconds": 5})
        )
        assert short.status_code == 422 and "window_seconds" in short.json()["error"]

    async def test_quiet_hours_are_kept_when_changed_and_cleared_with_null(
        self, embedded: Stack
    ) -> None:
        user = await embedded.user()
        path = f"/api/v1/users/{user['id']}/preferences"
        quiet = {"start": "23:00", "end": "06:30"}
        put = await embedded.client.put(
            path, json={"email": True, "push": True, "quiet_hours": quiet}, headers=embedded.auth
        )
        assert put.json()["data"]["quiet_hours"] == quiet, put.text
        kept = await embedded.client.put(path, json={"email": False}, headers=embedded.auth)
        assert kept.json()["data"] == {
            "email": False,
            "push": True,
            "sms": True,
            "chat": True,
            "in_app": True,
            "quiet_hours": quiet,
        }
        cleared = await embedded.client.put(path, json={"quiet_hours": None}, headers=embedded.auth)
        assert cleared.json()["data"]["quiet_hours"] is None
        for bad in ({"start": "25:00", "end": "06:00"}, {"start": "06:00", "end": "06:00"}):
            refused = await embedded.client.put(
                path, json={"quiet_hours": bad}, headers=embedded.auth
            )
            assert refused.status_code == 422 and "quiet_hours" in refused.json()["error"]
