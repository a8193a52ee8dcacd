"""Chat end to end, on embedded adapters and on the real servers, to stand-ins that
answer as Slack's, Discord's and Teams' webhooks do: every chat of a user, one given
directly, blocks, a service's 429 and its wait, a webhook gone (the device put aside,
or suppressed), a refusal, and who is not sent a message."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.chatservices import ChatServices
from tests.integration.pipeline import Stack, stack_on

# Block Kit as a template: a variable goes in through |tojson, so it stays JSON.
BLOCKS = (
    '[{"type": "section", "text": {"type": "mrkdwn", '
    '"text": {{ ("*" ~ service ~ "* " ~ version)|tojson }}}}]'
)
FAST = {"retry_base_delay": 0.1, "retry_max_delay": 0.5, "push_mode": "deliver"}


@pytest_asyncio.fixture
async def chats() -> AsyncIterator[ChatServices]:
    services = ChatServices()
    await services.start()
    yield services
    await services.stop()


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_on(request.param, tmp_path, **FAST) as s:
        yield s


def message(**recipient: Any) -> dict[str, Any]:
    return {
        "notification_type": "chat",
        "template_code": "deploy",
        "variables": {"service": "billing", "version": "1.4.2"},
        "request_id": uuid.uuid4().hex,
        **recipient,
    }


async def template(stack: Stack, **fields: str) -> None:
    body = {
        "code": "deploy",
        "channel": "chat",
        "text": "Deployed {{ service }} {{ version }}",
        "blocks": BLOCKS,
        **fields,
    }
    saved = await stack.client.post("/api/v1/templates/", json=body, headers=stack.auth)
    assert saved.status_code == 201, saved.text


async def device(stack: Stack, user_id: str, kind: str, url: str) -> dict[str, Any]:
    added = await stack.client.post(
        f"/api/v1/users/{user_id}/devices",
        json={"kind": kind, "webhook_url": url},
        headers=stack.auth,
    )
    assert added.status_code == 201, added.text
    found: dict[str, Any] = added.json()["data"]
    return found


async def sent(stack: Stack, body: dict[str, Any], status: str) -> dict[str, Any]:
    answer = await stack.send(body)
    assert answer.status_code == 202, answer.text
    return await stack.until(answer.json()["data"]["notification_id"], status)


async def test_every_chat_of_a_user_gets_its_own_shape(stack: Stack, chats: ChatServices) -> None:
    await template(stack)
    user = await stack.user()
    for kind in ("slack", "discord", "teams"):
        await device(stack, user["id"], kind, chats.url(kind))
    done = await sent(stack, message(user_id=user["id"]), "delivered")
    by_kind = {p.kind: p.body for p in chats.posted}
    assert by_kind["slack"] == {
        "text": "Deployed billing 1.4.2",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*billing* 1.4.2"}}],
    }
    assert by_kind["discord"] == {"content": "Deployed billing 1.4.2"}
    card = by_kind["teams"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["text"] == "Deployed billing 1.4.2"
    assert {"Slack 200", "Discord 204", "Teams 202"} <= set(
        done["history"][-1]["provider_response"].split("; ")
    )


async def test_a_chat_given_directly_and_a_wait_asked_for(
    stack: Stack, chats: ChatServices
) -> None:
    await template(stack, blocks="")
    chats.scripts[("discord", "h1")] = [(429, {"retry_after": 0.3, "global": False}, {})]
    done = await sent(
        stack,
        message(to={"device": {"kind": "discord", "webhook_url": chats.url("discord")}}),
        "delivered",
    )
    retried = [h for h in done["history"] if h["status"] == "pending" and h["error"]]
    assert retried and "429" in retried[0]["error"]
    assert [p.body for p in chats.posted] == [{"content": "Deployed billing 1.4.2"}] * 2
    assert done["to"] == {"device": {"kind": "discord", "address": chats.url("discord")}}


async def test_a_webhook_that_is_gone_is_put_aside(stack: Stack, chats: ChatServices) -> None:
    await template(stack)
    user = await stack.user()
    hook = chats.url("slack", "archived")
    await device(stack, user["id"], "slack", hook)
    chats.scripts[("slack", "archived")] = [(410, "channel_is_archived", {})]
    failed = await sent(stack, message(user_id=user["id"]), "failed")
    assert "gone" in failed["last_error"] and "channel_is_archived" in failed["last_error"]
    devices = await stack.client.get(f"/api/v1/users/{user['id']}/devices", headers=stack.auth)
    assert devices.json()["data"][0]["valid"] is False
    skipped = await sent(stack, message(user_id=user["id"]), "skipped")
    assert skipped["history"][-1]["error"] == "user has no chat to send to"

    direct = chats.url("discord", "deleted")
    chats.scripts[("discord", "deleted")] = [
        (404, {"message": "Unknown Webhook", "code": 10015}, {})
    ]
    body = message(to={"device": {"kind": "discord", "webhook_url": direct}})
    await sent(stack, body, "failed")
    again = await sent(stack, {**body, "request_id": uuid.uuid4().hex}, "skipped")
    assert "suppressed" in again["history"][-1]["error"]


async def test_refusals_and_who_is_not_sent_one(stack: Stack, chats: ChatServices) -> None:
    await template(stack)
    chats.scripts[("slack", "h1")] = [(400, "invalid_payload", {})]
    refused = await sent(
        stack,
        message(to={"device": {"kind": "slack", "webhook_url": chats.url("slack")}}),
        "failed",
    )
    assert refused["attempts"] == 1 and "invalid_payload" in refused["last_error"]

    await template(stack, blocks="{{ service }}")  # renders, but not to JSON
    bad = await sent(
        stack,
        message(to={"device": {"kind": "slack", "webhook_url": chats.url("slack")}}),
        "failed",
    )
    assert "blocks are not JSON" in bad["last_error"]

    nobody = await stack.user()
    assert (await sent(stack, message(user_id=nobody["id"]), "skipped"))["history"][-1][
        "error"
    ] == "user has no chat to send to"
    prefs = {"email": True, "push": True, "chat": False}
    off = await stack.user(preferences=prefs)
    await device(stack, off["id"], "slack", chats.url("slack"))
    turned_off = await sent(stack, message(user_id=off["id"]), "skipped")
    assert turned_off["history"][-1]["error"] == "user turned chat notifications off"
    crossed = await stack.send(message(to={"phone": "+447700900123"}))
    assert crossed.status_code == 422 and "takes 'device' (slack" in crossed.text
