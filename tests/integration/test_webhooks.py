"""Delivery webhooks (SPEC.md §6.3) on the embedded adapters and on the real servers:
events signed per Standard Webhooks (checked with the independent ``standardwebhooks``
package), retried on a schedule, failed and logged, endpoints disabled, and a slow
endpoint that delays no other."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from standardwebhooks import Webhook

from herald.adapters.webhooks.http import HttpWebhookTransport
from herald.domain.targets import is_private_address
from tests.integration.pipeline import Stack, stack_on
from tests.integration.test_email_delivery import unsubscribe_link
from tests.integration.test_pipeline import new_key
from tests.smtp import SmtpServer
from tests.webhookreceiver import Hook, WebhookReceiver

# Seconds, not hours: three attempts in well under a second.
FAST = {
    "webhook_retry_schedule": "0.2,0.2",
    "webhook_timeout": 1.0,
    "webhook_idle_seconds": 0.2,
}


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    r = WebhookReceiver()
    await r.start()
    yield r
    await r.stop()


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer
) -> AsyncIterator[Stack]:
    async with stack_on(request.param, tmp_path, smtp_url=smtp_server.url, **FAST) as s:
        yield s


async def register(
    stack: Stack, url: str, events: list[str] | None = None, **more: Any
) -> dict[str, Any]:
    response = await stack.client.post(
        "/api/v1/webhooks/",
        json={"url": url, "events": events or ["*"], **more},
        headers=stack.auth,
    )
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()["data"]
    return found


async def attempts(
    stack: Stack, endpoint_id: str, count: int, timeout: float = 10
) -> list[dict[str, Any]]:
    """The endpoint's log once it holds ``count`` attempts, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        response = await stack.client.get(
            f"/api/v1/webhooks/{endpoint_id}/deliveries", headers=stack.auth
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["data"]
        if len(rows) >= count:
            return rows[::-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(rows)} of {count} attempts logged: {rows}")
        await asyncio.sleep(0.05)


def verified(secret: str, hook: Hook) -> dict[str, Any]:
    found: dict[str, Any] = Webhook(secret).verify(hook.body, hook.headers)
    return found


class TestEvents:
    async def test_a_notification_reports_acceptance_and_delivery_signed(
        self, stack: Stack, receiver: WebhookReceiver
    ) -> None:
        endpoint = await register(stack, receiver.url())
        assert endpoint["secret"].startswith("whsec_")
        user = await stack.user()
        sent = await stack.send(stack.notification(user["id"], metadata={"order": 7}))
        notification_id = sent.json()["data"]["notification_id"]
        await stack.until(notification_id, "delivered")
        accepted, delivered = [
            (await receiver.wait_for(1, type=f"notification.{kind}"))[0]
            for kind in ("accepted", "delivered")
        ]
        for hook, status in ((accepted, "pending"), (delivered, "delivered")):
            event = verified(endpoint["secret"], hook)
            data = event["data"]
            assert data["notification_id"] == notification_id
            assert data["status"] == status and data["user_id"] == user["id"]
            assert data["notification_type"] == "email" and data["metadata"] == {"order": 7}
            assert event["timestamp"]
            assert hook.headers["webhook-id"].startswith("msg_")
        assert delivered.event["data"]["attempts"] == 1
        # The relay's answer on taking the mail: proof of hand-off, in the event and
        # in the history.
        answer = delivered.event["data"]["provider_response"]
        assert answer and answer.startswith("250")
        history = (await stack.status(notification_id))["history"]
        assert history[-1]["provider_response"] == answer
        assert accepted.headers["webhook-id"] != delivered.headers["webhook-id"]
        await attempts(stack, endpoint["id"], 2)  # both recorded
        metrics = (await stack.client.get("/workers/webhooks/metrics")).text
        assert (
            f'herald_webhook_attempts_total{{endpoint="{endpoint["id"]}",outcome="delivered"}}'
            in metrics
        )
        assert 'herald_webhook_events_total{type="notification.delivered"}' in metrics
        # The secret is never shown again.
        read = await stack.client.get(f"/api/v1/webhooks/{endpoint['id']}", headers=stack.auth)
        assert "secret" not in read.json()["data"]

    async def test_after_a_rotation_old_and_new_secrets_both_verify(
        self, stack: Stack, receiver: WebhookReceiver
    ) -> None:
        endpoint = await register(stack, receiver.url())
        rotated = await stack.client.post(
            f"/api/v1/webhooks/{endpoint['id']}/rotate_secret", headers=stack.auth
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["data"]["secret"]
        assert new != endpoint["secret"]
        await stack.client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=stack.auth)
        [hook] = await receiver.wait_for(1, type="webhook.test")
        assert len(hook.headers["webhook-signature"].split(" ")) == 2
        assert verified(new, hook) == verified(endpoint["secret"], hook)
        with pytest.raises(Exception, match="signature"):
            verified("whsec_" + "A" * 43 + "=", hook)

    async def test_endpoints_hear_only_the_events_they_chose(
        self, stack: Stack, receiver: WebhookReceiver
    ) -> None:
        await register(stack, receiver.url("/failures"), ["notification.skipped"])
        everything = await register(stack, receiver.url("/all"))
        user = await stack.user(preferences={"email": False, "push": True})
        sent = await stack.send(stack.notification(user["id"]))
        assert sent.json()["data"]["status"] == "skipped"
        [skipped] = await receiver.wait_for(1, "/failures")
        assert skipped.event["type"] == "notification.skipped"
        assert skipped.event["data"]["error"]
        [other] = await receiver.wait_for(1, "/all")
        # One event to two endpoints: the same webhook-id at each.
        assert other.headers["webhook-id"] == skipped.headers["webhook-id"]
        await stack.client.patch(
            f"/api/v1/webhooks/{everything['id']}", json={"enabled": False}, headers=stack.auth
        )
        await stack.send(stack.notification(user["id"]))
        await receiver.wait_for(2, "/failures")
        await asyncio.sleep(0.3)
        assert len(receiver.at("/all")) == 1

    async def test_an_unsubscribe_and_a_bounce_are_reported(
        self, stack: Stack, receiver: WebhookReceiver, smtp_server: SmtpServer
    ) -> None:
        await register(stack, receiver.url(), ["notification.bounced", "notification.unsubscribed"])
        user = await stack.user()
        sent = await stack.send(stack.notification(user["id"]))
        notification_id = sent.json()["data"]["notification_id"]
        await stack.until(notification_id, "delivered")
        await smtp_server.wait_for(1)
        unsubscribed = await stack.client.post(
            unsubscribe_link(smtp_server.received[0]),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert unsubscribed.status_code == 200, unsubscribed.text
        [hook] = await receiver.wait_for(1, type="notification.unsubscribed")
        assert hook.event["data"]["notification_id"] == notification_id
        assert hook.event["data"]["status"] == "delivered"
        report = {
            "notification_id": notification_id,
            "status": "failed",
            "error": "550 5.1.1 no such user",
        }
        bounced = await stack.client.post("/api/v1/email/status/", json=report, headers=stack.auth)
        assert bounced.status_code == 200, bounced.text
        [hook] = await receiver.wait_for(1, type="notification.bounced")
        assert hook.event["data"]["status"] == "failed"
        assert hook.event["data"]["error"] == "550 5.1.1 no such user"
        assert len(receiver.received) == 2  # only the events chosen


class TestRetries:
    async def test_a_500_then_a_timeout_then_a_200_delivers_on_the_third_attempt(
        self, stack: Stack, receiver: WebhookReceiver
    ) -> None:
        receiver.scripts["/flaky"] = [(500, 0), (200, 2.0), (200, 0)]
        endpoint = await register(stack, receiver.url("/flaky"))
        queued = await stack.client.post(
            f"/api/v1/webhooks/{endpoint['id']}/test", headers=stack.auth
        )
        assert queued.status_code == 202, queued.text
        webhook_id = queued.json()["data"]["webhook_id"]
        hooks = await receiver.wait_for(3, "/flaky")
        assert {h.headers["webhook-id"] for h in hooks} == {webhook_id}
        log = await attempts(stack, endpoint["id"], 3)
        assert [(a["attempt"], a["outcome"], a["response_status"]) for a in log] == [
            (1, "retrying", 500),
            (2, "retrying", None),
            (3, "delivered", 200),
        ]
        assert "timeout" in log[1]["error"]

    async def test_after_the_last_attempt_the_event_is_failed_and_can_be_retried(
        self, stack: Stack, receiver: WebhookReceiver
    ) -> None:
        receiver.scripts["/down"] = [(503, 0)]
        endpoint = await register(stack, receiver.url("/down"))
        await stack.client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=stack.auth)
        log = await attempts(stack, endpoint["id"], 3)
        assert [a["outcome"] for a in log] == ["retrying", "retrying", "failed"]
        await asyncio.sleep(0.5)
        assert len(receiver.at("/down")) == 3  # nothing after the last
        receiver.scripts["/down"] = [(204, 0)]
        again = await stack.client.post(
            f"/api/v1/webhooks/{endpoint['id']}/deliveries/{log[-1]['delivery_id']}/retry",
            headers=stack.auth,
        )
        assert again.status_code == 202, again.text
        last = (await attempts(stack, endpoint["id"], 4))[-1]
        assert (last["attempt"], last["outcome"], last["response_status"]) == (4, "delivered", 204)

    async def test_a_redirect_is_not_followed(
        self, stack: Stack, receiver: WebhookReceiver
    ) -> None:
        receiver.scripts["/moved"] = [(302, 0)]
        endpoint = await register(stack, receiver.url("/moved"))
        await stack.client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=stack.auth)
        log = await attempts(stack, endpoint["id"], 1)
        assert log[0]["response_status"] == 302 and "redirects are not followed" in log[0]["error"]


async def test_an_endpoint_failing_for_the_set_period_is_disabled_and_says_why(
    tmp_path: Path, smtp_server: SmtpServer, receiver: WebhookReceiver
) -> None:
    receiver.scripts["/gone"] = [(500, 0)]
    values = {
        **FAST,
        "webhook_retry_schedule": "0.2,0.2,0.2,0.2",
        "webhook_disable_after_seconds": 0.5,
    }
    async with stack_on("embedded", tmp_path, smtp_url=smtp_server.url, **values) as stack:
        endpoint = await register(stack, receiver.url("/gone"))
        await stack.client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=stack.auth)
        deadline = time.monotonic() + 10
        while True:
            read = await stack.client.get(f"/api/v1/webhooks/{endpoint['id']}", headers=stack.auth)
            data = read.json()["data"]
            if not data["enabled"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert data["enabled"] is False
        assert "every attempt failed since" in data["disabled_reason"]
        assert "answered 500" in data["disabled_reason"]
        # Disabled, it is sent nothing more, though its schedule had attempts left.
        made = len(receiver.at("/gone"))
        await asyncio.sleep(0.6)
        assert len(receiver.at("/gone")) == made < 5
        again = await stack.client.patch(
            f"/api/v1/webhooks/{endpoint['id']}", json={"enabled": True}, headers=stack.auth
        )
        assert again.json()["data"]["disabled_reason"] is None


async def test_a_slow_endpoint_does_not_delay_a_healthy_one(
    tmp_path: Path, smtp_server: SmtpServer, receiver: WebhookReceiver
) -> None:
    receiver.scripts["/slow"] = [(200, 10.0)]
    values = {**FAST, "webhook_timeout": 15.0, "webhook_concurrency_per_endpoint": 4}
    async with stack_on("servers", tmp_path, smtp_url=smtp_server.url, **values) as stack:
        slow = await register(stack, receiver.url("/slow"))
        healthy = await register(stack, receiver.url("/healthy"))
        for _ in range(20):
            await stack.client.post(f"/api/v1/webhooks/{slow['id']}/test", headers=stack.auth)
        started = time.monotonic()
        for _ in range(20):
            await stack.client.post(f"/api/v1/webhooks/{healthy['id']}/test", headers=stack.auth)
        await receiver.wait_for(20, "/healthy", timeout=5)
        assert time.monotonic() - started < 5
        # The slow one has only its own slots busy.
        assert len(receiver.at("/slow")) == 4


class TestRefusals:
    async def test_bad_endpoints_are_refused_with_the_reason(self, stack: Stack) -> None:
        cases = [
            ({"url": "https://example.com/h", "events": ["notification.opened"]}, "events"),
            ({"url": "https://example.com/h", "events": []}, "events"),
            ({"url": "ftp://example.com/h", "events": ["*"]}, "https"),
            ({"url": "https://user:pw@example.com/h", "events": ["*"]}, "credentials"),
            ({"url": "https://example.com/h"}, "events"),
            ({"url": "https://exa mple.com/h", "events": ["*"]}, "url"),
            ({"url": "https://example.com/\nh", "events": ["*"]}, "url"),
            ({"url": "https://", "events": ["*"]}, "url"),
            ({"url": "https://[::1", "events": ["*"]}, "url"),
            ({"url": "h" * 3000, "events": ["*"]}, "url"),
        ]
        for body, word in cases:
            response = await stack.client.post("/api/v1/webhooks/", json=body, headers=stack.auth)
            assert response.status_code == 422, (body, response.text)
            assert word in response.text, (body, response.text)
        missing = "00000000-0000-0000-0000-000000000000"
        for method, path in [
            ("GET", f"/api/v1/webhooks/{missing}"),
            ("POST", f"/api/v1/webhooks/{missing}/test"),
            ("POST", f"/api/v1/webhooks/{missing}/rotate_secret"),
            ("GET", f"/api/v1/webhooks/{missing}/deliveries"),
            ("POST", f"/api/v1/webhooks/{missing}/deliveries/{missing}/retry"),
            ("DELETE", f"/api/v1/webhooks/{missing}"),
        ]:
            response = await stack.client.request(method, path, headers=stack.auth)
            assert response.status_code == 404, (path, response.text)
        response = await stack.client.get("/api/v1/webhooks/not-a-uuid", headers=stack.auth)
        assert response.status_code == 422

    async def test_only_admin_keys_manage_webhooks(self, stack: Stack) -> None:
        key = await new_key(stack, ["send"])
        for method, path in [("GET", "/api/v1/webhooks/"), ("POST", "/api/v1/webhooks/")]:
            response = await stack.client.request(
                method, path, json={}, headers={"Authorization": f"Bearer {key}"}
            )
            assert response.status_code == 403, response.text


async def test_private_addresses_are_refused_at_registration_and_at_send(
    tmp_path: Path, smtp_server: SmtpServer, receiver: WebhookReceiver
) -> None:
    """Outside dev: a URL that is, or whose name resolves to, a private or loopback
    address is refused when registered; one that comes to resolve there is refused when
    sent, without retries."""
    host = socket.gethostname()
    assert is_private_address(socket.gethostbyname(host)), f"{host} resolves publicly here"
    values = {**FAST, "allow_private_targets": False}
    async with stack_on("embedded", tmp_path, smtp_url=smtp_server.url, **values) as stack:
        for url, why in [
            ("https://10.1.2.3/hook", "private or loopback"),
            ("https://127.0.0.1/hook", "private or loopback"),
            ("https://localhost/hook", "private or loopback"),
            (f"https://{host}/hook", "resolves to a private address"),
            (receiver.url(), "https"),
        ]:
            response = await stack.client.post(
                "/api/v1/webhooks/", json={"url": url, "events": ["*"]}, headers=stack.auth
            )
            assert response.status_code == 422, (url, response.text)
            assert why in response.json()["error"], (url, response.text)
    transport = HttpWebhookTransport(timeout=1, allow_private=False)
    try:
        answer = await transport.post(f"https://{host}:{receiver.port}/hook", {}, b"{}")
    finally:
        await transport.close()
    assert answer.permanent and "private address" in (answer.error or "")
    assert not receiver.received


async def test_allowed_hosts_keep_webhooks_to_the_receivers_named(
    tmp_path: Path, smtp_server: SmtpServer, receiver: WebhookReceiver
) -> None:
    values = {**FAST, "webhook_allowed_hosts": "127.0.0.1, hooks.example.com"}
    async with stack_on("embedded", tmp_path, smtp_url=smtp_server.url, **values) as stack:
        refused = await stack.client.post(
            "/api/v1/webhooks/",
            json={"url": "https://elsewhere.example.com/h", "events": ["*"]},
            headers=stack.auth,
        )
        assert refused.status_code == 422
        assert "HERALD_WEBHOOK_ALLOWED_HOSTS" in refused.json()["error"]
        endpoint = await register(stack, receiver.url())
        await stack.client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=stack.auth)
        await receiver.wait_for(1)
    transport = HttpWebhookTransport(
        timeout=1, allow_private=True, allowed_hosts=frozenset({"hooks.example.com"})
    )
    try:
        answer = await transport.post(receiver.url(), {}, b"{}")
    finally:
        await transport.close()
    assert answer.permanent and "HERALD_WEBHOOK_ALLOWED_HOSTS" in (answer.error or "")
