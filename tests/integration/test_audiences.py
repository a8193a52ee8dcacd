"""The three ways to address a notification (SPEC.md §6.1), on the embedded adapters
and on the real servers, with mail delivered to a real SMTP server: a stored user, an
address given directly (with the suppression list), and a topic's subscribers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.pipeline import Stack, stack_on
from tests.integration.test_email_delivery import unsubscribe_link
from tests.smtp import SmtpServer


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[Stack]:
    async with stack_on(
        request.param,
        tmp_path,
        smtp_url=smtp_server.url,
        rate_limit_per_recipient="5/minute",
        fanout_page_size=2,  # several pages, even for a few subscribers
    ) as s:
        yield s


def direct(address: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "notification_type": "email",
        "to": {"email": address},
        "template_code": "welcome",
        "variables": {"name": "Ada", "link": "https://example.com/start"},
        "request_id": uuid.uuid4().hex,
    }
    body.update(overrides)
    return body


async def wait_for_mail(smtp: SmtpServer, count: int) -> None:
    for _ in range(300):
        if len(smtp.received) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(smtp.received)} mails arrived, not {count}")


class TestDirect:
    async def test_an_address_without_a_user_gets_its_mail(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        sent = await stack.send(direct("Grace@Example.com", to={"email": "Grace@Example.com"}))
        assert sent.status_code == 202, sent.text
        done = await stack.until(sent.json()["data"]["notification_id"], "delivered")
        assert done["user_id"] is None and done["to"] == {"email": "Grace@example.com"}
        assert smtp_server.received[0]["To"] == "Grace@example.com"
        assert "Welcome, Ada" in smtp_server.received[0]["Subject"]

    async def test_the_locale_given_picks_the_version(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        await stack.email_template(
            "hello", locale="fr", subject="Bonjour {{ name }}", text_body="Salut"
        )
        sent = await stack.send(
            direct(
                "fr@example.com",
                template_code="hello",
                to={"email": "fr@example.com", "locale": "fr-CA"},
            )
        )
        assert sent.status_code == 202, sent.text
        await wait_for_mail(smtp_server, 1)
        assert smtp_server.received[0]["Subject"] == "Bonjour Ada"

    async def test_one_click_unsubscribe_suppresses_the_address(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        await stack.send(direct("bob@example.com"))
        await wait_for_mail(smtp_server, 1)
        link = unsubscribe_link(smtp_server.received[0])
        assert (await stack.client.post(link)).status_code == 200
        # Then later mail to that address is skipped, with the reason
        later = (await stack.send(direct("BOB@example.com"))).json()["data"]
        assert later["status"] == "skipped"
        assert later["reason"] == "address is suppressed: unsubscribed"
        # ... and an operator sees the entry and can lift it
        listed = (await stack.client.get("/api/v1/suppressions/", headers=stack.auth)).json()
        assert listed["meta"]["total"] == 1
        entry = listed["data"][0]
        assert entry["address"] == "bob@example.com" and entry["channel"] == "email"
        lifted = await stack.client.delete(
            f"/api/v1/suppressions/{entry['id']}", headers=stack.auth
        )
        assert lifted.status_code == 200
        again = (await stack.send(direct("bob@example.com"))).json()["data"]
        assert again["status"] == "pending"

    async def test_a_hard_bounce_suppresses_the_address(self, stack: Stack) -> None:
        sent = (await stack.send(direct("gone@example.com"))).json()["data"]
        await stack.until(sent["notification_id"], "delivered")
        reported = await stack.client.post(
            "/api/v1/email/status/",
            headers=stack.auth,
            json={"notification_id": sent["notification_id"], "status": "failed", "error": "550"},
        )
        assert reported.status_code == 200, reported.text
        later = (await stack.send(direct("gone@example.com"))).json()["data"]
        assert later["status"] == "skipped" and "hard bounce: 550" in later["reason"]

    async def test_an_operator_suppresses_an_address(self, stack: Stack) -> None:
        added = await stack.client.post(
            "/api/v1/suppressions/",
            headers=stack.auth,
            json={"channel": "email", "address": "Legal@Example.com", "reason": "asked us"},
        )
        assert added.status_code == 201, added.text
        again = await stack.client.post(
            "/api/v1/suppressions/",
            headers=stack.auth,
            json={"channel": "email", "address": "legal@example.com", "reason": "twice"},
        )
        assert again.json()["data"]["reason"] == "asked us"  # the first reason stays
        later = (await stack.send(direct("legal@example.com"))).json()["data"]
        assert later["reason"] == "address is suppressed: asked us"

    async def test_idempotency_and_rate_limits_count_the_address(self, stack: Stack) -> None:
        body = direct("carol@example.com")
        first = (await stack.send(body)).json()["data"]
        assert (await stack.send(body)).json()["data"]["notification_id"] == first[
            "notification_id"
        ]
        codes = [(await stack.send(direct("carol@example.com"))).status_code for _ in range(5)]
        assert codes == [202, 202, 202, 202, 429]  # five per minute for the address
        assert (await stack.send(direct("dave@example.com"))).status_code == 202

    @pytest.mark.parametrize(
        ("change", "named"),
        [
            ({"user_id": str(uuid.uuid4())}, "exactly one of 'user_id', 'to' and 'topic'"),
            ({"to": None}, "exactly one of"),
            ({"to": {"email": "a@example.com", "device": None, "locale": "x y"}}, "locale"),
            ({"to": {"email": "not an address"}}, "email"),
            ({"to": {}}, "exactly one of 'email', 'device' and 'phone'"),
            ({"notification_type": "push"}, "'to' takes 'device'"),
        ],
    )
    async def test_a_recipient_named_wrongly_is_a_422(
        self, stack: Stack, change: dict[str, Any], named: str
    ) -> None:
        answer = await stack.send({**direct("a@example.com"), **change})
        assert answer.status_code == 422, answer.text
        assert named in answer.json()["error"]

    async def test_a_batch_mixes_users_and_addresses(self, stack: Stack) -> None:
        user = await stack.user()
        answered = await stack.client.post(
            "/api/v1/notifications/batch",
            headers=stack.auth,
            json={"notifications": [stack.notification(user["id"]), direct("e@example.com")]},
        )
        assert [r["status_code"] for r in answered.json()["data"]] == [202, 202]

    async def test_a_batch_looks_its_addresses_up_on_the_suppression_list(
        self, stack: Stack
    ) -> None:
        await stack.client.post(
            "/api/v1/suppressions/",
            headers=stack.auth,
            json={"channel": "email", "address": "no@example.com", "reason": "asked us"},
        )
        items = [direct("yes@example.com"), direct("NO@example.com"), direct("no@example.com")]
        answered = await stack.client.post(
            "/api/v1/notifications/batch", headers=stack.auth, json={"notifications": items}
        )
        found = [await stack.status(r["notification_id"]) for r in answered.json()["data"]]
        assert [f["status"] for f in found] == ["pending", "skipped", "skipped"]
        assert found[1]["last_error"] == "address is suppressed: asked us"


async def subscribe(stack: Stack, key: str, user_ids: list[str]) -> Any:
    return await stack.client.post(
        f"/api/v1/topics/{key}/subscribers", headers=stack.auth, json={"user_ids": user_ids}
    )


class TestTopics:
    async def test_topics_and_their_subscribers(self, stack: Stack) -> None:
        created = await stack.client.post(
            "/api/v1/topics/", headers=stack.auth, json={"key": "news", "name": "News"}
        )
        assert created.status_code == 201, created.text
        duplicate = await stack.client.post(
            "/api/v1/topics/", headers=stack.auth, json={"key": "news", "name": "Again"}
        )
        assert duplicate.status_code == 409
        users = [(await stack.user())["id"] for _ in range(3)]
        added = await subscribe(stack, "news", users)
        assert added.json()["data"] == {"changed": 3, "subscribers": 3}
        again = await subscribe(stack, "news", users[:2])  # idempotent
        assert again.json()["data"] == {"changed": 0, "subscribers": 3}
        unknown = await subscribe(stack, "news", [str(uuid.uuid4())])
        assert unknown.status_code == 404 and "users " in unknown.json()["error"]
        many = await subscribe(stack, "news", [str(uuid.uuid4()) for _ in range(10_000)])
        assert many.status_code == 404 and "(and 9995 more)" in many.json()["error"]
        page = await stack.client.get(
            "/api/v1/topics/news/subscribers", params={"limit": 2}, headers=stack.auth
        )
        assert page.json()["meta"]["total"] == 3 and len(page.json()["data"]) == 2
        assert [s["user_id"] for s in page.json()["data"]] == sorted(users)[:2]
        removed = await stack.client.request(
            "DELETE",
            "/api/v1/topics/news/subscribers",
            headers=stack.auth,
            json={"user_ids": users[:1]},
        )
        assert removed.json()["data"] == {"changed": 1, "subscribers": 2}
        listed = (await stack.client.get("/api/v1/topics/", headers=stack.auth)).json()["data"]
        assert [(t["key"], t["subscribers"]) for t in listed] == [("news", 2)]
        assert (
            await stack.client.delete("/api/v1/topics/news", headers=stack.auth)
        ).status_code == 200
        missing = await stack.client.get("/api/v1/topics/news", headers=stack.auth)
        assert missing.status_code == 404 and "news" in missing.json()["error"]
        too_many = await subscribe(stack, "news", [str(uuid.uuid4())] * 10_001)
        assert too_many.status_code == 422

    async def test_a_topic_send_fans_out_one_child_per_subscriber(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        await stack.client.post(
            "/api/v1/topics/", headers=stack.auth, json={"key": "launch", "name": "Launch"}
        )
        wanting = [(await stack.user())["id"] for _ in range(4)]
        quiet = await stack.user(preferences={"email": False, "push": True})
        assert (await subscribe(stack, "launch", [*wanting, quiet["id"]])).status_code == 200
        sent = await stack.send(
            {**stack.notification(wanting[0]), "user_id": None, "topic": "launch"}
        )
        assert sent.status_code == 202, sent.text
        parent_id = sent.json()["data"]["notification_id"]
        parent = await stack.until(parent_id, "delivered")
        assert parent["topic"] == "launch" and parent["user_id"] is None
        assert parent["fanout"] == {"total": 5, "accepted": 4, "skipped": 1}
        children = (
            await stack.client.get(
                "/api/v1/notifications/", params={"parent_id": parent_id}, headers=stack.auth
            )
        ).json()
        assert children["meta"]["total"] == 5
        assert sorted(c["user_id"] for c in children["data"]) == sorted([*wanting, quiet["id"]])
        assert all(c["parent_id"] == parent_id for c in children["data"])
        skipped = [c for c in children["data"] if c["status"] == "skipped"]
        assert [c["user_id"] for c in skipped] == [quiet["id"]]
        await wait_for_mail(smtp_server, 4)
        await asyncio.sleep(0.3)
        assert len(smtp_server.received) == 4  # one each, none twice
        reported = await stack.client.post(
            "/api/v1/email/status/",
            headers=stack.auth,
            json={"notification_id": parent_id, "status": "failed", "error": "550"},
        )
        assert reported.status_code == 409 and "children" in reported.json()["error"]

    async def test_a_topic_send_is_checked_at_the_door(self, stack: Stack) -> None:
        user = await stack.user()
        unknown = await stack.send(
            {**stack.notification(user["id"]), "user_id": None, "topic": "nope"}
        )
        assert unknown.status_code == 404 and "topic 'nope'" in unknown.json()["error"]
        await stack.client.post(
            "/api/v1/topics/", headers=stack.auth, json={"key": "t", "name": "T"}
        )
        lacking = await stack.send(
            {**stack.notification(user["id"]), "user_id": None, "topic": "t", "variables": {}}
        )
        assert lacking.status_code == 422 and "'name'" in lacking.json()["error"]

    async def test_a_topic_with_no_subscribers_is_delivered_at_once(self, stack: Stack) -> None:
        user = await stack.user()
        await stack.client.post(
            "/api/v1/topics/", headers=stack.auth, json={"key": "e", "name": "E"}
        )
        sent = (
            await stack.send({**stack.notification(user["id"]), "user_id": None, "topic": "e"})
        ).json()["data"]
        parent = await stack.until(sent["notification_id"], "delivered")
        assert parent["fanout"] == {"total": 0, "accepted": 0, "skipped": 0}
