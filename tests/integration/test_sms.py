"""Text messages end to end, on embedded adapters and on the real servers: a user's
phone and a number given directly, through Twilio's API (a stand-in speaking it) and
through a provider that takes Herald's JSON; preferences, the suppression list,
refusals, retries after 429, receipts signed by Twilio's own library, and the parts a
preview counts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.pipeline import Stack, stack_on
from tests.smsprovider import SID, SmsProvider

PHONE = "+447700900123"
FAST = {"retry_base_delay": 0.1, "retry_max_delay": 0.5, "sms_from": "+15005550006"}


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[SmsProvider]:
    p = SmsProvider()
    await p.start()
    yield p
    await p.stop()


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(
    request: pytest.FixtureRequest, tmp_path: Path, provider: SmsProvider
) -> AsyncIterator[Stack]:
    async with stack_on(request.param, tmp_path, sms_url=provider.twilio_url, **FAST) as s:
        yield s


def text(**recipient: Any) -> dict[str, Any]:
    return {
        "notification_type": "sms",
        "template_code": "welcome",
        "variables": {"name": "Ada", "link": "https://example.com/start"},
        "request_id": uuid.uuid4().hex,
        **recipient,
    }


async def sent(stack: Stack, body: dict[str, Any], status: str) -> dict[str, Any]:
    answer = await stack.send(body)
    assert answer.status_code == 202, answer.text
    return await stack.until(answer.json()["data"]["notification_id"], status)


async def test_a_user_s_phone_gets_the_text_through_twilio(
    stack: Stack, provider: SmsProvider
) -> None:
    user = await stack.user(phone=PHONE)
    assert user["phone"] == PHONE and user["preferences"]["sms"] is True
    done = await sent(stack, text(user_id=user["id"]), "delivered")
    [message] = provider.sent
    assert message.form["To"] == PHONE and message.form["From"] == "+15005550006"
    assert message.form["Body"] == "Welcome, Ada! Get started: https://example.com/start"
    assert message.form["StatusCallback"].endswith(
        f"/api/v1/sms/status/twilio?notification_id={done['notification_id']}"
    )
    assert done["history"][-1]["provider_response"].startswith("SM")


async def test_a_number_given_directly_and_the_suppression_list(
    stack: Stack, provider: SmsProvider
) -> None:
    await sent(stack, text(to={"phone": PHONE}), "delivered")
    added = await stack.client.post(
        "/api/v1/suppressions/",
        json={"channel": "sms", "address": PHONE, "reason": "replied STOP"},
        headers=stack.auth,
    )
    assert added.status_code == 201, added.text
    skipped = await sent(stack, text(to={"phone": PHONE}), "skipped")
    assert "suppressed" in skipped["history"][-1]["error"]
    assert len(provider.sent) == 1


async def test_who_is_not_sent_a_text(stack: Stack) -> None:
    nobody = await stack.user()
    no_phone = await sent(stack, text(user_id=nobody["id"]), "skipped")
    assert no_phone["history"][-1]["error"] == "user has no phone number"
    off = await stack.user(phone=PHONE, preferences={"email": True, "push": True, "sms": False})
    turned_off = await sent(stack, text(user_id=off["id"]), "skipped")
    assert turned_off["history"][-1]["error"] == "user turned sms notifications off"
    for bad in ("07700900123", "+0447700900123", "+44 7700 900123"):
        refused = await stack.send(text(to={"phone": bad}))
        assert refused.status_code == 422, bad
        user = await stack.client.post(
            "/api/v1/users/",
            json={"name": "B", "email": "b@example.com", "password": "x" * 8, "phone": bad},
            headers=stack.auth,
        )
        assert user.status_code == 422, bad
    crossed = await stack.send(text(to={"email": "ada@example.com"}))
    assert crossed.status_code == 422 and "takes 'phone'" in crossed.text


async def test_twilio_s_refusals_and_throttling(stack: Stack, provider: SmsProvider) -> None:
    provider.refusals.append(
        (400, {"code": 21211, "message": "The 'To' number is not a valid phone number."}, {})
    )
    failed = await sent(stack, text(to={"phone": PHONE}), "failed")
    assert "21211" in failed["last_error"] and failed["attempts"] == 1

    provider.refusals.append(
        (429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "1"})
    )
    later = await sent(stack, text(to={"phone": "+447700900124"}), "delivered")
    retried = [h for h in later["history"] if h["status"] == "pending" and h["error"]]
    assert retried and "429" in retried[0]["error"]
    gap = provider.sent[-1]
    assert gap.form["To"] == "+447700900124"


async def test_twilio_s_receipts_are_checked_and_recorded(
    stack: Stack, provider: SmsProvider
) -> None:
    done = await sent(stack, text(to={"phone": PHONE}), "delivered")
    message = provider.sent[-1]
    arrived = await provider.receipt(stack.client, message, "delivered")
    assert arrived.status_code == 200, arrived.text
    assert (await stack.status(done["notification_id"]))["status"] == "delivered"

    forged = await stack.client.post(
        "/api/v1/sms/status/twilio?notification_id=" + done["notification_id"],
        data={"MessageStatus": "undelivered", "AccountSid": SID},
        headers={"X-Twilio-Signature": "bm90IHR3aWxpbw=="},
    )
    assert forged.status_code == 403

    lost = await provider.receipt(stack.client, message, "undelivered", error_code="30003")
    assert lost.status_code == 200, lost.text
    after = await stack.status(done["notification_id"])
    assert (
        after["status"] == "failed" and after["last_error"] == "Twilio: undelivered (error 30003)"
    )


async def test_a_preview_counts_a_text_s_parts(stack: Stack) -> None:
    async def parts(body: str) -> dict[str, Any]:
        answer = await stack.client.post(
            "/api/v1/templates/render",
            json={"template": {"code": "t", "channel": "sms", "body": body}, "variables": {}},
            headers=stack.auth,
        )
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()["data"]["sms"]
        return found

    assert await parts("a" * 160) == {"encoding": "GSM-7", "units": 160, "parts": 1}
    assert await parts("a" * 161) == {"encoding": "GSM-7", "units": 161, "parts": 2}
    assert await parts("€" * 10) == {"encoding": "GSM-7", "units": 20, "parts": 1}
    assert await parts("Привет" * 12) == {"encoding": "UCS-2", "units": 72, "parts": 2}


async def test_a_provider_that_takes_herald_s_json(tmp_path: Path, provider: SmsProvider) -> None:
    async with stack_on(
        "embedded", tmp_path, sms_url=provider.http_url, sms_token="provider-token", **FAST
    ) as s:
        done = await sent(s, text(to={"phone": PHONE}), "delivered")
        [message] = provider.sent
        assert message.headers["authorization"] == "Bearer provider-token"
        assert message.form["to"] == PHONE and message.form["reference"] == done["notification_id"]
        assert done["history"][-1]["provider_response"].startswith("msg-")
        # Its receipts come back as any provider's report does, with a status key.
        report = await s.client.post(
            "/api/v1/sms/status/",
            json={
                "notification_id": done["notification_id"],
                "status": "failed",
                "error": "no signal",
            },
            headers=s.auth,
        )
        assert report.status_code == 200, report.text
        assert (await s.status(done["notification_id"]))["status"] == "failed"
        # Twilio's receipts are not taken where Twilio is not the provider.
        nothing = await s.client.post(
            f"/api/v1/sms/status/twilio?notification_id={done['notification_id']}",
            data={"MessageStatus": "failed"},
        )
        assert nothing.status_code == 404
