"""The push worker's modes as their own processes: ``herald worker sms`` and
``herald worker chat`` beside the gateway, users and templates on PostgreSQL, Redis and
RabbitMQ, to stand-ins that speak Twilio's API and Slack's webhooks; and Twilio's
signed receipt back to the gateway over the network."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.chatservices import ChatServices
from tests.e2e.processes import own_stack
from tests.smsprovider import SmsProvider

API_KEY = "hk_e2e_channels_" + "k" * 40


async def _until_final(api: httpx.AsyncClient, notification_id: str) -> dict[str, Any]:
    for _ in range(150):
        found: dict[str, Any] = (await api.get(f"/api/v1/notifications/{notification_id}")).json()[
            "data"
        ]
        if found["status"] != "pending":
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"still pending: {found}")


async def test_texts_and_chats_cross_the_processes(amqp_url: str, tmp_path: Path) -> None:
    provider, chats = SmsProvider(), ChatServices()
    await provider.start()
    await chats.start()
    try:
        names = ("users", "templates", "gateway", "sms_worker", "chat_worker")
        extra = {
            "HERALD_SMS_URL": provider.twilio_url,
            "HERALD_SMS_FROM": "Herald",
            "HERALD_ALLOW_PRIVATE_TARGETS": "true",  # the stand-ins are on loopback
        }
        async with own_stack(amqp_url, tmp_path, names, api_key=API_KEY, **extra) as (running, _):
            auth = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(base_url=running.url("gateway"), headers=auth) as api:
                user = await api.post(
                    "/api/v1/users/",
                    json={
                        "name": "Ada",
                        "email": "ada@example.com",
                        "password": "correct horse",
                        "phone": "+447700900123",
                    },
                )
                assert user.status_code == 201, user.text
                user_id = user.json()["data"]["id"]
                slack = {"kind": "slack", "webhook_url": chats.url("slack")}
                added = await api.post(f"/api/v1/users/{user_id}/devices", json=slack)
                assert added.status_code == 201, added.text
                chat = await api.post(
                    "/api/v1/templates/",
                    json={"code": "hello", "channel": "chat", "text": "Hello {{ name }}"},
                )
                assert chat.status_code == 201, chat.text

                ids = {}
                for channel, code, variables in (
                    ("sms", "welcome", {"name": "Ada", "link": "https://example.com"}),
                    ("chat", "hello", {"name": "Ada"}),
                ):
                    sent = await api.post(
                        "/api/v1/notifications/",
                        json={
                            "notification_type": channel,
                            "user_id": user_id,
                            "template_code": code,
                            "variables": variables,
                            "request_id": f"e2e-{channel}",
                        },
                    )
                    assert sent.status_code == 202, sent.text
                    ids[channel] = sent.json()["data"]["notification_id"]
                for channel, notification_id in ids.items():
                    found = await _until_final(api, notification_id)
                    assert found["status"] == "delivered", (channel, found)
                [text] = provider.sent
                assert text.form["Body"] == "Welcome, Ada! Get started: https://example.com/"
                assert [p.body for p in chats.posted] == [{"text": "Hello Ada"}]

                # Twilio's receipt reaches the gateway over the network, as Twilio posts it.
                async with httpx.AsyncClient(base_url=running.url("gateway")) as twilio:
                    answer = await provider.receipt(twilio, text, "failed", "30006")
                assert answer.status_code == 200, answer.text
                found = (await api.get(f"/api/v1/notifications/{ids['sms']}")).json()["data"]
                assert found["status"] == "failed"
                assert found["last_error"] == "Twilio: failed (error 30006)"
            async with httpx.AsyncClient() as probe:
                for worker in ("sms_worker", "chat_worker"):
                    ready = await probe.get(running.url(worker) + "/ready")
                    assert ready.status_code == 200, (worker, ready.text)
    finally:
        await chats.stop()
        await provider.stop()
