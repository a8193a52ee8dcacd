"""The push worker against local Web Push and FCM services over real HTTP: payloads
decrypted with the subscription's key, VAPID and OAuth checked, token hygiene."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import http_ece
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import ec

from herald.adapters.push.http import check_target
from herald.devmode.secrets import generate_vapid_pem
from herald.domain.errors import DeliveryError
from tests.integration.helpers import browser_subscription
from tests.integration.pipeline import Stack, herald_stack, on_servers
from tests.integration.test_pipeline import failed_depth
from tests.pushserver import PushServer

FCM_TOKEN = "fcm-device-token-" + "x" * 100


@pytest_asyncio.fixture
async def push_server() -> AsyncIterator[PushServer]:
    server = PushServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def stack(
    postgres_url: str,
    redis_url: tuple[str, str],
    amqp_url: str,
    push_server: PushServer,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    async with herald_stack(
        **on_servers(postgres_url, redis_url, amqp_url),
        smtp_url="smtp://127.0.0.1:1",
        push_mode="deliver",
        vapid_private_key=generate_vapid_pem(),
        vapid_subject="mailto:ops@example.com",
        fcm_base_url=push_server.url,
        fcm_credentials_file=push_server.service_account(tmp_path),
        retry_max_attempts=3,
        rate_limit_per_recipient="1000/minute",
    ) as s:
        yield s


async def subscribed_user(stack: Stack, push: PushServer) -> tuple[dict[str, Any], Any, bytes]:
    user = await stack.user()
    sub, key, secret = browser_subscription(f"{push.url}/wp/{user['id']}")
    added = await stack.client.post(
        f"/api/v1/users/{user['id']}/devices",
        headers=stack.auth,
        json={"kind": "webpush", "subscription": sub},
    )
    assert added.status_code == 201, added.text
    return user, key, secret


def push(stack: Stack, user: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return stack.notification(user["id"], notification_type="push", **overrides)


def b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class TestWebPush:
    async def test_payload_is_encrypted_for_the_subscription_and_vapid_signed(
        self, stack: Stack, push_server: PushServer
    ) -> None:
        user, ua_key, auth_secret = await subscribed_user(stack, push_server)
        push_server.answers = [(201, {"Location": f"{push_server.url}/messages/m1"}, None)]
        sent = (
            await stack.send(push(stack, user, priority=9, metadata={"topic": "welcome-ada"}))
        ).json()["data"]
        done = await stack.until(sent["notification_id"], "delivered")
        # The push service's receipt (RFC 8030 §5) is kept as proof of hand-off.
        assert done["history"][-1]["provider_response"] == f"201 {push_server.url}/messages/m1"
        request = push_server.received[0]
        # The body decrypts with the browser's private key (RFC 8291, aes128gcm).
        plain = http_ece.decrypt(
            request.body, private_key=ua_key, auth_secret=auth_secret, version="aes128gcm"
        )
        payload = json.loads(plain)
        assert payload["title"] == "Welcome, Ada!" and payload["body"] == "Tap to get started."
        assert payload["link"] == "https://example.com/start"
        assert payload["data"]["notification_id"] == sent["notification_id"]
        assert request.headers["content-encoding"] == "aes128gcm"
        assert request.headers["urgency"] == "high" and int(request.headers["ttl"]) > 0
        assert request.headers["topic"] == "welcome-ada"
        # The VAPID JWT is signed by the key browsers were given (RFC 8292).
        found = re.match(r"vapid t=([^,]+),\s*k=(\S+)", request.headers["authorization"])
        assert found is not None
        token, public = found.groups()
        published = (await stack.client.get("/api/v1/push/vapid_public_key")).json()["data"]
        assert published["public_key"] == public
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64decode(public))
        claims = jwt.decode(token, key=key, algorithms=["ES256"], audience=push_server.url)
        assert claims["sub"] == "mailto:ops@example.com"
        assert time.time() < claims["exp"] <= time.time() + 24 * 3600

    async def test_gone_subscription_invalidates_the_device_without_retrying(
        self, stack: Stack, push_server: PushServer
    ) -> None:
        push_server.answers = [(410, {}, None)]
        user, _, _ = await subscribed_user(stack, push_server)
        sent = (await stack.send(push(stack, user))).json()["data"]
        done = await stack.until(sent["notification_id"], "failed")
        assert done["attempts"] == 1 and "gone" in done["last_error"]
        devices = (
            await stack.client.get(f"/api/v1/users/{user['id']}/devices", headers=stack.auth)
        ).json()["data"]
        assert devices[0]["valid"] is False
        later = (await stack.send(push(stack, user))).json()["data"]
        assert later["status"] == "skipped"

    async def test_429_is_retried_after_retry_after(
        self, stack: Stack, push_server: PushServer
    ) -> None:
        push_server.answers = [(429, {"Retry-After": "1"}, None), (201, {}, None)]
        user, _, _ = await subscribed_user(stack, push_server)
        sent = (await stack.send(push(stack, user))).json()["data"]
        done = await stack.until(sent["notification_id"], "delivered")
        assert done["attempts"] == 2
        assert len(push_server.received) == 2

    async def test_500_is_retried_until_the_dead_letter_queue(
        self, stack: Stack, push_server: PushServer
    ) -> None:
        push_server.answers = [(500, {}, None)]
        user, _, _ = await subscribed_user(stack, push_server)
        sent = (await stack.send(push(stack, user))).json()["data"]
        done = await stack.until(sent["notification_id"], "failed", timeout=30)
        assert done["attempts"] == 3 and "500" in done["last_error"]
        assert len(push_server.received) == 3
        assert await failed_depth(stack.settings.broker_url) == 1

    async def test_a_payload_too_large_fails_at_once(
        self, stack: Stack, push_server: PushServer
    ) -> None:
        user, _, _ = await subscribed_user(stack, push_server)
        big = push(
            stack,
            user,
            variables={"name": "Ada", "link": "https://e.com", "meta": {"blob": "x" * 4000}},
        )
        sent = (await stack.send(big)).json()["data"]
        done = await stack.until(sent["notification_id"], "failed")
        assert done["attempts"] == 1 and "bytes" in done["last_error"]
        assert push_server.received == []


class TestFcm:
    async def test_request_shape_and_oauth_bearer(
        self, stack: Stack, push_server: PushServer
    ) -> None:
        push_server.answers = [(200, {}, {"name": "projects/herald-test/messages/1"})]
        user = await stack.user(push_token=FCM_TOKEN)
        sent = (await stack.send(push(stack, user, priority=2))).json()["data"]
        done = await stack.until(sent["notification_id"], "delivered")
        assert done["history"][-1]["provider_response"] == "projects/herald-test/messages/1"
        request = push_server.received[0]
        assert request.path == "/v1/projects/herald-test/messages:send"
        assert push_server.token_requests >= 1  # the service-account JWT was exchanged
        assert request.headers["authorization"] == f"Bearer {push_server.access_token}"
        message = json.loads(request.body)["message"]
        assert message["token"] == FCM_TOKEN
        assert message["notification"] == {"title": "Welcome, Ada!", "body": "Tap to get started."}
        assert message["data"]["notification_id"] == sent["notification_id"]
        assert message["data"]["link"] == "https://example.com/start"
        assert message["android"]["priority"] == "normal"

    async def test_unregistered_token_invalidates_the_device(
        self, stack: Stack, push_server: PushServer
    ) -> None:
        push_server.answers = [
            (
                404,
                {},
                {
                    "error": {
                        "status": "NOT_FOUND",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                "errorCode": "UNREGISTERED",
                            }
                        ],
                    }
                },
            )
        ]
        user = await stack.user(push_token=FCM_TOKEN)
        sent = (await stack.send(push(stack, user))).json()["data"]
        done = await stack.until(sent["notification_id"], "failed")
        assert done["attempts"] == 1 and "UNREGISTERED" in done["last_error"]
        devices = (
            await stack.client.get(f"/api/v1/users/{user['id']}/devices", headers=stack.auth)
        ).json()["data"]
        assert devices[0]["valid"] is False

    @pytest.mark.parametrize(
        ("status", "error"),
        [
            (404, {"status": "NOT_FOUND", "message": "Requested entity was not found."}),
            (
                400,
                {
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.BadRequest",
                            "fieldViolations": [{"field": "message.android.ttl"}],
                        }
                    ],
                },
            ),
        ],
        ids=["wrong project", "another field"],
    )
    async def test_an_error_that_does_not_name_the_token_keeps_the_device(
        self, stack: Stack, push_server: PushServer, status: int, error: dict[str, Any]
    ) -> None:
        # A wrong project id or base URL answers 404 for every device: pruning on it
        # would forget every device Herald knows.
        push_server.answers = [(status, {}, {"error": error})] * 3
        user = await stack.user(push_token=FCM_TOKEN)
        sent = (await stack.send(push(stack, user))).json()["data"]
        done = await stack.until(sent["notification_id"], "failed")
        assert str(status) in done["last_error"]
        devices = (
            await stack.client.get(f"/api/v1/users/{user['id']}/devices", headers=stack.auth)
        ).json()["data"]
        assert devices[0]["valid"] is True

    async def test_invalid_argument_naming_the_token_invalidates_the_device(
        self, stack: Stack, push_server: PushServer
    ) -> None:
        violation = {"field": "message.token", "description": "Invalid registration token"}
        push_server.answers = [
            (
                400,
                {},
                {
                    "error": {
                        "status": "INVALID_ARGUMENT",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.rpc.BadRequest",
                                "fieldViolations": [violation],
                            }
                        ],
                    }
                },
            )
        ]
        user = await stack.user(push_token=FCM_TOKEN)
        sent = (await stack.send(push(stack, user))).json()["data"]
        await stack.until(sent["notification_id"], "failed")
        devices = (
            await stack.client.get(f"/api/v1/users/{user['id']}/devices", headers=stack.auth)
        ).json()["data"]
        assert devices[0]["valid"] is False

    async def test_a_webpush_endpoint_that_cannot_be_signed_for_is_refused_at_registration(
        self, stack: Stack
    ) -> None:
        user = await stack.user()
        sub, _, _ = browser_subscription("https://[::1]:9/push/abc")
        added = await stack.client.post(
            f"/api/v1/users/{user['id']}/devices",
            headers=stack.auth,
            json={"kind": "webpush", "subscription": sub},
        )
        assert added.status_code == 422 and "IPv6" in added.json()["error"]


class TestTargets:
    @pytest.mark.parametrize(
        "url",
        [
            "https://127.0.0.1/p",
            "https://localhost/p",
            "https://10.0.0.1/p",
            "http://127.0.0.1/p",
            "https://169.254.169.254/latest/meta-data",
        ],
    )
    async def test_private_push_endpoints_are_refused_outside_dev(self, url: str) -> None:
        with pytest.raises(DeliveryError) as refused:
            await check_target(url, allow_private=False)
        assert refused.value.permanent

    async def test_loopback_http_is_allowed_when_configured(self) -> None:
        await check_target("http://127.0.0.1:9/p", allow_private=True)


class TestDirectDevice:
    async def test_a_device_given_directly_is_pushed_and_suppressed_once_gone(
        self, stack: Stack, push_server: PushServer
    ) -> None:
        sub, ua_key, auth_secret = browser_subscription(f"{push_server.url}/wp/direct")
        body = {
            "notification_type": "push",
            "to": {"device": {"kind": "webpush", "subscription": sub}},
            "template_code": "welcome",
            "variables": {"name": "Ada", "link": "https://example.com/start"},
            "request_id": "direct-1",
        }
        sent = (await stack.send(body)).json()["data"]
        await stack.until(sent["notification_id"], "delivered")
        plain = http_ece.decrypt(
            push_server.received[0].body,
            private_key=ua_key,
            auth_secret=auth_secret,
            version="aes128gcm",
        )
        assert json.loads(plain)["title"] == "Welcome, Ada!"
        shown = await stack.status(sent["notification_id"])
        assert shown["user_id"] is None
        assert shown["to"] == {"device": {"kind": "webpush", "address": sub["endpoint"]}}

        # When its push service says it is gone, the endpoint is suppressed
        push_server.answers = [(200, {}, None), (410, {}, None)]
        gone = (await stack.send({**body, "request_id": "direct-2"})).json()["data"]
        await stack.until(gone["notification_id"], "failed")
        later = (await stack.send({**body, "request_id": "direct-3"})).json()["data"]
        assert later["status"] == "skipped" and "suppressed" in later["reason"]
        listed = await stack.client.get(
            "/api/v1/suppressions/", params={"channel": "push"}, headers=stack.auth
        )
        assert [s["address"] for s in listed.json()["data"]] == [sub["endpoint"]]

    async def test_a_device_that_cannot_be_signed_for_is_refused(self, stack: Stack) -> None:
        sub, _, _ = browser_subscription("https://[2001:db8::1]/wp/x")
        answer = await stack.send(
            {
                "notification_type": "push",
                "to": {"device": {"kind": "webpush", "subscription": sub}},
                "template_code": "welcome",
                "variables": {"name": "Ada"},
                "request_id": "ipv6",
            }
        )
        assert answer.status_code == 422 and "IPv6" in answer.json()["error"]
