"""The path of a notification through every service, on PostgreSQL, Redis, RabbitMQ and
a real SMTP server: accepted, queued, rendered, sent, tracked."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from herald.adapters.broker.rabbitmq import RabbitBroker
from herald.adapters.db.engine import create_engine
from herald.domain.messages import FAILED_QUEUE, DeliveryStatusChanged, status_message
from herald.domain.statuses import Channel, Status
from herald.kit.db import sessionmaker, unit_of_work
from herald.ports import Outgoing
from herald.services.gateway import keys
from tests.integration.pipeline import Stack, herald_stack, on_servers
from tests.smtp import SmtpServer


@pytest_asyncio.fixture
async def stack(
    postgres_url: str, redis_url: tuple[str, str], amqp_url: str, smtp_server: SmtpServer
) -> AsyncIterator[Stack]:
    async with herald_stack(
        **on_servers(postgres_url, redis_url, amqp_url),
        smtp_url=smtp_server.url,
    ) as s:
        yield s


async def new_key(stack: Stack, scopes: list[str]) -> str:
    engine = create_engine(stack.settings.database_url_for("gateway"))
    try:
        async with unit_of_work(sessionmaker(engine)) as session:
            _, key = await keys.create(session, name="test", scopes=scopes)
    finally:
        await engine.dispose()
    return key


async def failed_depth(url: str) -> int:
    broker = RabbitBroker(url)
    await broker.start()
    await asyncio.wait_for(broker.wait_connected(), 10)
    try:
        return await broker.depth(FAILED_QUEUE)
    finally:
        await broker.close()


class TestDelivery:
    async def test_an_email_travels_to_the_smtp_server_and_is_tracked(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        user = await stack.user(locale="fr")
        response = await stack.send(stack.notification(user["id"]), **{"X-Request-ID": "trace-1"})
        assert response.status_code == 202, response.text
        assert response.headers["x-request-id"] == "trace-1"
        data = response.json()["data"]
        assert data["status"] == "pending" and data["notification_type"] == "email"
        done = await stack.until(data["notification_id"], "delivered")
        assert done["attempts"] == 1 and done["last_error"] is None
        assert [h["status"] for h in done["history"]] == ["pending", "delivered"]
        assert done["locale"] == "fr" and done["template_version"] == 1
        await smtp_server.wait_for(1)
        mail = smtp_server.received[0]
        assert mail["To"] == user["email"]
        assert mail["Subject"] == "Bienvenue, Ada !"
        assert mail["Message-ID"] == f"<{data['notification_id']}@localhost>"
        assert mail["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/api/v1/unsubscribe/")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail.get_body(preferencelist=("html",)) is not None

    async def test_list_filters_and_paginates(self, stack: Stack) -> None:
        ada, bob = await stack.user(), await stack.user()
        for _ in range(3):
            assert (await stack.send(stack.notification(ada["id"]))).status_code == 202
        await stack.send(stack.notification(bob["id"]))
        page = (
            await stack.client.get(
                f"/api/v1/notifications/?user_id={ada['id']}&limit=2&notification_type=email",
                headers=stack.auth,
            )
        ).json()
        assert page["meta"]["total"] == 3 and len(page["data"]) == 2
        assert page["meta"]["has_next"] is True
        assert all(n["user_id"] == ada["id"] for n in page["data"])
        bad = await stack.client.get("/api/v1/notifications/?status=lost", headers=stack.auth)
        assert bad.status_code == 422


class TestIdempotency:
    async def test_replays_spend_no_rate_limit(
        self, postgres_url: str, redis_url: tuple[str, str], amqp_url: str
    ) -> None:
        async with herald_stack(
            **on_servers(postgres_url, redis_url, amqp_url),
            smtp_url="smtp://127.0.0.1:1",
            rate_limit_per_recipient="2/minute",
        ) as stack:
            user = await stack.user()
            body = stack.notification(user["id"])
            for _ in range(5):  # one send, then four replays of it
                assert (await stack.send(body)).status_code == 202
            second = await stack.send(stack.notification(user["id"]))
            assert second.status_code == 202, second.text
            third = await stack.send(stack.notification(user["id"]))
            assert third.status_code == 429

    async def test_a_replay_returns_the_original_and_sends_once(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        user = await stack.user()
        body = stack.notification(user["id"])
        first = await stack.send(body)
        again = await stack.send(body)
        assert first.status_code == again.status_code == 202
        same = {k: v for k, v in first.json()["data"].items() if k != "status"}
        assert {k: v for k, v in again.json()["data"].items() if k != "status"} == same
        await stack.until(first.json()["data"]["notification_id"], "delivered")
        # A replay after delivery answers with where the notification got to.
        late = await stack.send(body)
        assert late.status_code == 202 and late.json()["data"]["status"] == "delivered"
        changed = await stack.send({**body, "priority": 9})
        assert changed.status_code == 409
        assert body["request_id"] in changed.json()["error"]
        await asyncio.sleep(0.5)
        assert len(smtp_server.received) == 1

    async def test_twenty_concurrent_identical_requests_make_one_notification(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        user = await stack.user()
        body = stack.notification(user["id"])
        responses = await asyncio.gather(*(stack.send(body) for _ in range(20)))
        assert {r.status_code for r in responses} == {202}
        ids = {r.json()["data"]["notification_id"] for r in responses}
        assert len(ids) == 1
        listed = (
            await stack.client.get(
                f"/api/v1/notifications/?user_id={user['id']}", headers=stack.auth
            )
        ).json()
        assert listed["meta"]["total"] == 1
        await stack.until(ids.pop(), "delivered")
        await asyncio.sleep(0.5)
        assert len(smtp_server.received) == 1

    async def test_a_burst_of_new_requests_replays_and_a_changed_body(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        # Sent together, these share group commits: each is still answered on its own.
        user = await stack.user()
        bodies = [stack.notification(user["id"]) for _ in range(10)]
        first = (await stack.send(bodies[0])).json()["data"]
        changed = {**bodies[0], "priority": 9}
        burst = [*bodies, bodies[0], changed, bodies[1], bodies[2]]
        responses = await asyncio.gather(*(stack.send(b) for b in burst))
        assert [r.status_code for r in responses] == [202] * 11 + [409] + [202] * 2
        assert str(changed["request_id"]) in responses[11].json()["error"]
        ids = [r.json()["data"]["notification_id"] for r in responses if r.status_code == 202]
        assert len(set(ids[:10])) == 10
        assert responses[0].json()["data"] == responses[10].json()["data"] == first
        assert ids[11:] == ids[1:3]
        for notification_id in ids[:10]:
            await stack.until(notification_id, "delivered")
        await asyncio.sleep(0.5)
        assert len(smtp_server.received) == 10


class TestRouting:
    async def test_opted_out_or_unreachable_users_are_skipped(self, stack: Stack) -> None:
        quiet = await stack.user(preferences={"email": False, "push": True})
        response = await stack.send(stack.notification(quiet["id"]))
        data = response.json()["data"]
        assert response.status_code == 202 and data["status"] == "skipped"
        assert data["reason"] == "user turned email notifications off"
        no_device = await stack.send(stack.notification(quiet["id"], notification_type="push"))
        assert no_device.json()["data"]["status"] == "skipped"
        assert "no valid push device" in no_device.json()["data"]["reason"]
        found = await stack.status(data["notification_id"])
        assert [h["status"] for h in found["history"]] == ["skipped"]

    async def test_a_preference_change_is_seen_at_once(self, stack: Stack) -> None:
        user = await stack.user()
        assert (await stack.send(stack.notification(user["id"]))).json()["data"][
            "status"
        ] == "pending"  # the contact is now cached
        await stack.client.put(
            f"/api/v1/users/{user['id']}/preferences",
            json={"email": False, "push": True},
            headers=stack.auth,
        )
        after = await stack.send(stack.notification(user["id"]))
        assert after.json()["data"]["status"] == "skipped"

    async def test_unknown_user_or_template_is_404_naming_it(self, stack: Stack) -> None:
        user = await stack.user()
        missing = "00000000-0000-4000-8000-000000000000"
        response = await stack.send(stack.notification(missing))
        assert response.status_code == 404 and missing in response.json()["error"]
        response = await stack.send(stack.notification(user["id"], template_code="nope"))
        assert response.status_code == 404 and "'nope'" in response.json()["error"]


class TestBadInput:
    async def test_what_postgres_cannot_store_is_refused_alone_not_with_its_batch(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        # U+0000 in text, NaN or Infinity in JSON: accepted, any of them would fail the
        # group commit of every request sent with it.
        user = await stack.user()
        good = [stack.notification(user["id"]) for _ in range(6)]
        bad_id = {**stack.notification(user["id"]), "request_id": "a\u0000b"}
        bad_name = stack.notification(user["id"])
        bad_name["variables"] = {**bad_name["variables"], "name": "Ada\u0000"}
        bad_key = {**stack.notification(user["id"]), "metadata": {"k\u0000": 1}}
        nan = {**stack.notification(user["id"]), "metadata": {"x": float("nan")}}
        infinite = stack.notification(user["id"])
        infinite["variables"] = {**infinite["variables"], "meta": {"y": [float("-inf")]}}
        bad = [bad_id, bad_name, bad_key, nan, infinite]

        async def send(body: dict[str, Any]) -> httpx.Response:
            # Python's encoder writes NaN and Infinity (httpx's refuses to).
            return await stack.client.post(
                "/api/v1/notifications/",
                content=json.dumps(body).encode(),
                headers={**stack.auth, "Content-Type": "application/json"},
            )

        responses = await asyncio.gather(*(send(b) for b in [*good[:3], *bad, *good[3:]]))
        assert [r.status_code for r in responses] == [202] * 3 + [422] * 5 + [202] * 3
        errors = [r.json()["error"] for r in responses[3:8]]
        assert all("NUL" in e for e in errors[:3]), errors
        assert all("NaN and Infinity" in e for e in errors[3:]), errors
        for accepted in responses[:3] + responses[8:]:
            await stack.until(accepted.json()["data"]["notification_id"], "delivered")
        named = await stack.client.post(
            "/api/v1/users/",
            json={"name": "A\u0000", "email": "nul@example.com", "password": "correct horse"},
            headers=stack.auth,
        )
        assert named.status_code == 422 and "NUL" in named.json()["error"]

    async def test_malformed_requests_get_clear_4xx(self, stack: Stack) -> None:
        user = await stack.user()
        good = stack.notification(user["id"])
        cases = [
            ({**good, "extra": 1}, 422, "unknown field 'extra'"),
            ({**good, "priority": 10}, 422, "priority"),
            ({**good, "notification_type": "pigeon"}, 422, "notification_type"),
            ({**good, "variables": {"name": "x", "link": "not a url"}}, 422, "link"),
            ({**good, "user_id": "nope"}, 422, "user_id"),
            ({k: v for k, v in good.items() if k != "request_id"}, 422, "request_id"),
        ]
        for body, code, named in cases:
            response = await stack.send(body)
            assert response.status_code == code, body
            assert named in response.json()["error"]
        raw = await stack.client.post(
            "/api/v1/notifications/",
            content=b"{not json",
            headers={**stack.auth, "Content-Type": "application/json"},
        )
        assert raw.status_code == 422
        form = await stack.client.post(
            "/api/v1/notifications/",
            content=b"a=b",
            headers={**stack.auth, "Content-Type": "text/plain"},
        )
        assert form.status_code == 415
        huge = await stack.send({**good, "metadata": {"blob": "x" * 300_000}})
        assert huge.status_code == 413

    async def test_credentials(self, stack: Stack) -> None:
        user = await stack.user()
        body = stack.notification(user["id"])
        assert (await stack.client.post("/api/v1/notifications/", json=body)).status_code == 401
        wrong = {"Authorization": "Bearer hk_wrong"}
        assert (
            await stack.client.post("/api/v1/notifications/", json=body, headers=wrong)
        ).status_code == 401
        login = await stack.client.post(
            "/api/v1/auth/login", json={"email": user["email"], "password": "correct horse"}
        )
        user_token = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
        assert (
            await stack.client.post("/api/v1/notifications/", json=body, headers=user_token)
        ).status_code == 403

    async def test_rate_limit_per_recipient_says_when_to_retry(
        self, postgres_url: str, redis_url: tuple[str, str], amqp_url: str, smtp_server: SmtpServer
    ) -> None:
        async with herald_stack(
            **on_servers(postgres_url, redis_url, amqp_url),
            smtp_url=smtp_server.url,
            rate_limit_per_recipient="5/minute",
        ) as stack:
            await self._five_then_limited(stack)

    async def _five_then_limited(self, stack: Stack) -> None:
        user = await stack.user()
        codes = [(await stack.send(stack.notification(user["id"]))).status_code for _ in range(5)]
        assert codes == [202] * 5
        limited = await stack.send(stack.notification(user["id"]))
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["RateLimit-Limit"] == "5"
        assert limited.headers["RateLimit-Remaining"] == "0"
        assert "recipient" in limited.json()["error"]


class TestStatusReports:
    async def test_reports_move_status_forward_never_back(self, stack: Stack) -> None:
        user = await stack.user(preferences={"email": True, "push": True})
        data = (await stack.send(stack.notification(user["id"]))).json()["data"]
        nid = data["notification_id"]
        await stack.until(nid, "delivered")
        back = await stack.client.post(
            "/api/v1/email/status/",
            headers=stack.auth,
            json={"notification_id": nid, "status": "pending", "timestamp": None, "error": None},
        )
        assert back.status_code == 409
        bounce = await stack.client.post(
            "/api/v1/email/status/",
            headers=stack.auth,
            json={
                "notification_id": nid,
                "status": "failed",
                "timestamp": "2026-11-23T12:00:00Z",
                "error": "550 mailbox unknown",
            },
        )
        assert bounce.status_code == 200
        found = await stack.status(nid)
        assert found["status"] == "failed" and found["last_error"] == "550 mailbox unknown"
        wrong_channel = await stack.client.post(
            "/api/v1/push/status/",
            headers=stack.auth,
            json={"notification_id": nid, "status": "delivered"},
        )
        assert wrong_channel.status_code == 404
        not_uuid = await stack.client.post(
            "/api/v1/email/status/",
            headers=stack.auth,
            json={"notification_id": "x", "status": "delivered"},
        )
        assert not_uuid.status_code == 422

    async def test_a_status_key_reports_only_on_what_it_sent(self, stack: Stack) -> None:
        # Given a notification sent by one key, and another key with the status scope
        sender = {"Authorization": f"Bearer {await new_key(stack, ['send', 'status'])}"}
        stranger = {"Authorization": f"Bearer {await new_key(stack, ['status'])}"}
        user = await stack.user()
        sent = await stack.client.post(
            "/api/v1/notifications/", json=stack.notification(user["id"]), headers=sender
        )
        nid = sent.json()["data"]["notification_id"]
        await stack.until(nid, "delivered")
        bounce = {"notification_id": nid, "status": "failed", "error": "550 unknown"}
        # Then the stranger cannot fail it (nor learn that it exists)
        refused = await stack.client.post("/api/v1/email/status/", json=bounce, headers=stranger)
        assert refused.status_code == 404
        assert (await stack.status(nid))["status"] == "delivered"
        # ... while the key that sent it, or an admin key, can
        own = await stack.client.post("/api/v1/email/status/", json=bounce, headers=sender)
        assert own.status_code == 200 and own.json()["data"]["status"] == "failed"

    async def test_a_status_message_carries_many_events_or_one(self, stack: Stack) -> None:
        user = await stack.user()
        ids = []
        for n in range(3):
            sent = await stack.send(stack.notification(user["id"], metadata={"n": n}))
            ids.append(sent.json()["data"]["notification_id"])
        for nid in ids:
            await stack.until(nid, "delivered")

        def bounce(nid: str) -> DeliveryStatusChanged:
            return DeliveryStatusChanged(
                notification_id=uuid.UUID(nid),
                channel=Channel.EMAIL,
                status=Status.FAILED,
                error=f"550 {nid}",
            )

        broker = RabbitBroker(stack.settings.broker_url)
        await broker.start()
        await asyncio.wait_for(broker.wait_connected(), 10)
        try:
            await broker.publish(
                [
                    Outgoing("status", status_message([bounce(ids[0]), bounce(ids[1])])),
                    Outgoing("status", bounce(ids[2]).model_dump_json().encode()),
                    Outgoing("status", b'[{"notification_id": "not an id"}]'),
                ]
            )
        finally:
            await broker.close()
        for nid in ids:
            found = await stack.until(nid, "failed")
            assert found["last_error"] == f"550 {nid}"
        # The malformed message is set aside in the dead letter queue, not retried forever.
        assert await failed_depth(stack.settings.broker_url) == 1


class TestFailures:
    async def test_transient_smtp_failures_are_retried_until_delivered(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        smtp_server.data_reply = "451 4.3.0 try again later"
        user = await stack.user()
        nid = (await stack.send(stack.notification(user["id"]))).json()["data"]["notification_id"]
        for _ in range(100):
            if (await stack.status(nid))["attempts"] >= 2:
                break
            await asyncio.sleep(0.1)
        smtp_server.data_reply = None
        done = await stack.until(nid, "delivered")
        assert done["attempts"] >= 3
        retries = [h for h in done["history"] if h["status"] == "pending" and h["error"]]
        assert retries and "451" in retries[0]["error"]

    async def test_permanent_failure_goes_to_the_dead_letter_queue_after_one_attempt(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        user = await stack.user()
        smtp_server.rcpt_replies[user["email"]] = "550 5.1.1 no such mailbox"
        nid = (await stack.send(stack.notification(user["id"]))).json()["data"]["notification_id"]
        done = await stack.until(nid, "failed")
        assert done["attempts"] == 1 and "550" in done["last_error"]
        assert await failed_depth(stack.settings.broker_url) == 1

    async def test_attempts_are_capped(self, stack: Stack, smtp_server: SmtpServer) -> None:
        smtp_server.data_reply = "421 4.7.0 busy"
        user = await stack.user()
        nid = (await stack.send(stack.notification(user["id"]))).json()["data"]["notification_id"]
        done = await stack.until(nid, "failed", timeout=60)
        assert done["attempts"] == stack.settings.retry_max_attempts
        assert await failed_depth(stack.settings.broker_url) == 1


class TestOpenApi:
    async def test_one_document_covers_every_public_route(self, stack: Stack) -> None:
        spec = (await stack.client.get("/openapi.json")).json()
        paths = set(spec["paths"])
        for path in [
            "/api/v1/notifications/",
            "/api/v1/notifications/{notification_id}",
            "/api/v1/{notification_preference}/status/",
            "/api/v1/users/",
            "/api/v1/users/{user_id}/devices",
            "/api/v1/auth/login",
            "/api/v1/templates/",
            "/api/v1/templates/{code}/preview",
        ]:
            assert path in paths, path
        assert not any(p.startswith("/internal") for p in paths)
        # Both pages load every script and style from Herald itself, none from a CDN.
        for page in ("/docs", "/redoc"):
            html = await stack.client.get(page)
            assert html.status_code == 200, page
            assets = re.findall(r'(?:src|href)="([^"]+)"', html.text)
            assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
            for asset in assets:
                loaded = await stack.client.get(asset)
                assert loaded.status_code == 200 and len(loaded.content) > 50, asset


class TestVariables:
    async def test_any_variable_a_template_uses_and_no_link_needed(
        self, stack: Stack, smtp_server: SmtpServer
    ) -> None:
        # Given a one-time-code template that uses neither name nor link
        saved = await stack.email_template(
            "otp", subject="Your code", text_body="Code {{ code }}, valid {{ minutes }} minutes."
        )
        assert saved.status_code == 201, saved.text
        user = await stack.user()
        body = stack.notification(
            user["id"], template_code="otp", variables={"code": "493021", "minutes": 10}
        )
        sent = await stack.send(body)
        assert sent.status_code == 202, sent.text
        await stack.until(sent.json()["data"]["notification_id"], "delivered")
        mail = smtp_server.received[-1]
        assert "Code 493021, valid 10 minutes." in mail.get_body(("plain",)).get_content()
        # A variable it uses and the request lacks is named at the door
        lacking = stack.notification(user["id"], template_code="otp", variables={"code": "1"})
        refused = await stack.send(lacking)
        assert refused.status_code == 422 and "'minutes'" in refused.json()["error"]

    async def test_a_line_break_bound_for_a_subject_is_refused_at_accept(
        self, stack: Stack
    ) -> None:
        user = await stack.user()
        injected = {"name": "Ada\r\nBcc: everyone@example.com", "link": "https://e.com/x"}
        refused = await stack.send(stack.notification(user["id"], variables=injected))
        assert refused.status_code == 422
        assert refused.json()["error"].startswith("variables.name:")
        # The same in a variable only the body uses is fine: bodies have lines.
        fine = {"name": "Ada", "link": "https://e.com/x", "meta": {"note": "a\nb"}}
        assert (await stack.send(stack.notification(user["id"], variables=fine))).status_code == 202

    async def test_variable_names_and_links_are_checked(self, stack: Stack) -> None:
        user = await stack.user()
        for variables, named in [
            ({"name": "A", "link": "ftp://x"}, "link"),
            ({"name": "A", "link": "https://e.com", "not-a-name": 1}, "not-a-name"),
        ]:
            refused = await stack.send(stack.notification(user["id"], variables=variables))
            assert refused.status_code == 422 and named in refused.json()["error"]

    async def test_a_template_read_without_a_channel_is_every_channel(self, stack: Stack) -> None:
        found = await stack.client.get("/api/v1/templates/welcome", headers=stack.auth)
        assert found.status_code == 200, found.text
        assert sorted(t["channel"] for t in found.json()["data"]) == [
            "email",
            "in_app",
            "push",
            "sms",
        ]
        none = await stack.client.get("/api/v1/templates/nothing-here", headers=stack.auth)
        assert none.status_code == 404
