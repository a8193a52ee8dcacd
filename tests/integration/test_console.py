"""The console over HTTP, on embedded adapters and on the real servers: who may sign
in, what the session cookie is, CSRF on every form, throttled sign-ins, the API's
own rules behind every page; and the API additions the console stands on (the
``admin`` role, user search, notification filters, draft renders)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.integration.pipeline import Stack, stack_on
from tests.smtp import SmtpServer
from tests.webhookreceiver import WebhookReceiver

ADMIN_EMAIL, ADMIN_PASSWORD = "ops@example.com", "correct horse battery"


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_on(
        request.param,
        tmp_path,
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD,
        login_failures_per_account="3 per 15 minutes",
        console_session_seconds=2,
    ) as s:
        yield s


async def sign_in(
    client: httpx.AsyncClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD
) -> httpx.Response:
    page = await client.get("/console/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token, page.text
    return await client.post(
        "/console/login",
        data={
            "login_token": token.group(1),
            "email": email,
            "password": password,
            "next": "/console/keys",
        },
    )


def csrf(page: httpx.Response | str) -> str:
    text = page if isinstance(page, str) else page.text
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found, text
    return found.group(1)


async def test_an_admin_signs_in_and_every_page_answers(stack: Stack) -> None:
    client = stack.client
    assert (await client.get("/console/keys")).headers[
        "location"
    ] == "/console/login?next=/console/keys"
    done = await sign_in(client)
    assert done.status_code == 303 and done.headers["location"] == "/console/keys"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    for path in (
        "/console/",
        "/console/notifications",
        "/console/send",
        "/console/templates",
        "/console/templates/welcome?channel=email",
        "/console/template-editor?code=welcome&channel=email",
        "/console/users",
        "/console/suppressions",
        "/console/keys",
        "/console/webhooks",
        "/console/dead-letters",
    ):
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"


async def test_who_is_refused(stack: Stack) -> None:
    await stack.user(email="someone@example.com", password="a-long-password")
    refused = await sign_in(stack.client, "someone@example.com", "a-long-password")
    assert refused.status_code == 403 and "not an admin" in refused.text
    assert "herald_console=" not in refused.headers.get("set-cookie", "")

    wrong = await sign_in(stack.client, ADMIN_EMAIL, "not it")
    assert wrong.status_code == 401 and "email or password is wrong" in wrong.text
    for _ in range(2):
        await sign_in(stack.client, ADMIN_EMAIL, "not it")
    # Throttled like an API login: the right password waits too.
    throttled = await sign_in(stack.client)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0


async def test_a_sign_in_form_of_another_site_is_refused(stack: Stack) -> None:
    forged = await stack.client.post(
        "/console/login",
        data={"login_token": "guessed", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
    )
    assert forged.status_code == 403


async def test_next_never_leaves_the_console(stack: Stack) -> None:
    page = await stack.client.get("/console/login?next=//evil.example/")
    assert 'name="next" value="/console/"' in page.text


async def test_forms_need_the_session_s_csrf_token(stack: Stack) -> None:
    await sign_in(stack.client)
    keys = await stack.client.get("/console/keys")
    for token in (None, "0" * 64):
        data = {"name": "forged", "scope": "admin", **({"csrf": token} if token else {})}
        refused = await stack.client.post("/console/keys", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
    made = await stack.client.post(
        "/console/keys", data={"name": "real", "scope": "send", "csrf": csrf(keys)}
    )
    assert made.status_code == 200
    key = re.search(r'id="new-key" class="secret">(hk_[^<]+)<', made.text)
    assert key is not None
    # The key works, and the listing never shows it again.
    answer = await stack.client.get(
        "/api/v1/notifications/", headers={"Authorization": f"Bearer {key.group(1)}"}
    )
    assert answer.status_code == 200
    assert key.group(1) not in (await stack.client.get("/console/keys")).text


async def test_a_form_that_is_not_a_form_is_a_400(stack: Stack) -> None:
    await sign_in(stack.client)
    keys = await stack.client.get("/console/keys")
    many = "&".join(f"f{i}=x" for i in range(300)) + f"&csrf={csrf(keys)}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    crowded = await stack.client.post("/console/keys", content=many, headers=headers)
    assert crowded.status_code == 400 and "200 fields" in crowded.text
    garbled = await stack.client.post("/console/keys", content=b"name=\xff\xfe", headers=headers)
    assert garbled.status_code == 400 and "UTF-8" in garbled.text
    assert (await stack.client.get("/console/notifications/not-an-id")).status_code == 422


async def test_the_console_s_own_key_is_not_revoked_from_it(stack: Stack) -> None:
    await sign_in(stack.client)
    keys = await stack.client.get("/console/keys")
    listed = (await stack.client.get("/console/keys")).text
    assert "the console&#39;s own" in listed or "the console's own" in listed
    from herald.bootstrap import key_admin

    async with key_admin(stack.settings) as admin:
        own = next(k for k in await admin.listing() if k["name"] == "console")
    refused = await stack.client.post(
        f"/console/keys/{own['id']}/revoke", data={"csrf": csrf(keys)}
    )
    assert refused.status_code == 409


async def test_sign_out_and_idle_sessions_end(stack: Stack) -> None:
    await sign_in(stack.client)
    page = await stack.client.get("/console/")
    assert page.status_code == 200
    out = await stack.client.post("/console/logout", data={"csrf": csrf(page)})
    assert out.status_code == 303
    assert (await stack.client.get("/console/")).status_code == 303

    await sign_in(stack.client)
    assert (await stack.client.get("/console/")).status_code == 200
    await asyncio.sleep(2.5)  # console_session_seconds=2: unused, it ends
    assert (await stack.client.get("/console/")).status_code == 303


async def test_the_send_form_goes_through_the_api_s_rules(stack: Stack) -> None:
    await sign_in(stack.client)
    form = await stack.client.get("/console/send")
    refused = await stack.client.post(
        "/console/send",
        data={
            "csrf": csrf(form),
            "channel": "email",
            "email": "ada@example.com",
            "template": "welcome",
            "variables": '{"name": "Ada"}',
        },
    )
    assert refused.status_code == 422
    assert "uses &#39;link&#39;" in refused.text or "uses 'link'" in refused.text
    sent = await stack.client.post(
        "/console/send",
        data={
            "csrf": csrf(form),
            "channel": "email",
            "email": "ada@example.com",
            "template": "welcome",
            "variables": '{"name": "Ada", "link": "https://example.com"}',
            "send_at": (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert sent.status_code == 303
    page = await stack.client.get(sent.headers["location"])
    assert ">scheduled<" in page.text and "Hello Ada" in page.text


async def test_the_role_is_an_admin_s_to_give(stack: Stack) -> None:
    made = await stack.user(email="eve@example.com", password="a-long-password")
    assert made["role"] == "user"
    login = await stack.client.post(
        "/api/v1/auth/login", json={"email": "eve@example.com", "password": "a-long-password"}
    )
    own = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    itself = await stack.client.patch(
        f"/api/v1/users/{made['id']}", json={"role": "admin"}, headers=own
    )
    assert itself.status_code == 403
    given = await stack.client.patch(
        f"/api/v1/users/{made['id']}", json={"role": "admin"}, headers=stack.auth
    )
    assert given.json()["data"]["role"] == "admin"


async def test_users_are_searched_by_name_or_email(stack: Stack) -> None:
    await stack.user(name="Grace Hopper", email="grace@navy.example")
    await stack.user(name="Ada", email="ada_100%@example.com")

    async def found(q: str) -> list[str]:
        answer = await stack.client.get("/api/v1/users/", params={"q": q}, headers=stack.auth)
        return sorted(u["name"] for u in answer.json()["data"])

    assert await found("HOPPER") == ["Grace Hopper"]
    assert await found("navy") == ["Grace Hopper"]
    assert await found("100%") == ["Ada"]
    assert await found("_") == ["Ada"]  # a literal underscore, not any character


async def test_notifications_are_filtered_by_template_request_id_and_time(stack: Stack) -> None:
    user = await stack.user()
    body = stack.notification(user["id"], request_id="order-1")
    assert (await stack.send(body)).status_code == 202

    async def count(**params: Any) -> int:
        answer = await stack.client.get("/api/v1/notifications/", params=params, headers=stack.auth)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["meta"]["total"])

    assert await count(request_id="order-1") == 1
    assert await count(request_id="order-2") == 0
    assert await count(template_code="welcome") == 1
    assert await count(template_code="password_reset") == 0
    assert await count(created_after="2000-01-01T00:00:00+05:00") == 1
    assert await count(created_before="2000-01-01T00:00:00Z") == 0
    naive = await stack.client.get(
        "/api/v1/notifications/", params={"created_after": "2000-01-01T00:00"}, headers=stack.auth
    )
    assert naive.status_code == 422


async def test_a_draft_renders_as_saving_would_check_it(stack: Stack) -> None:
    draft = {
        "code": "draft",
        "channel": "email",
        "subject": "Hi {{ name }}",
        "text_body": "Yo {{ name }}",
    }
    answer = await stack.client.post(
        "/api/v1/templates/render",
        json={"template": draft, "variables": {"name": "Ada"}},
        headers=stack.auth,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["text_body"] == "Yo Ada"
    assert answer.json()["data"]["version"] == 0
    broken = await stack.client.post(
        "/api/v1/templates/render",
        json={"template": {**draft, "text_body": "Yo {{ name }"}, "variables": {}},
        headers=stack.auth,
    )
    assert broken.status_code == 422
    # Nothing was saved.
    assert (
        await stack.client.get("/api/v1/templates/draft", headers=stack.auth)
    ).status_code == 404


async def test_a_secure_cookie_behind_tls(tmp_path: Path) -> None:
    async with stack_on(
        "embedded",
        tmp_path,
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD,
        public_url="https://herald.example.com",
    ) as s:
        page = await s.client.get("/console/login")
        assert "Secure" in page.headers["set-cookie"]
        # A Secure cookie goes back over TLS only: here, by hand.
        token = re.search(r'name="login_token" value="([^"]+)"', page.text)
        assert token
        done = await s.client.post(
            "/console/login",
            data={"login_token": token.group(1), "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            headers={"Cookie": f"herald_console_login={token.group(1)}"},
        )
        assert done.status_code == 303 and "Secure" in done.headers["set-cookie"]


async def test_a_webhook_registered_in_the_console_is_retried_from_it(tmp_path: Path) -> None:
    receiver = WebhookReceiver()
    await receiver.start()
    # Both attempts fail; the one retried from the console is taken.
    receiver.scripts["/hook"] = [(500, 0.0), (500, 0.0), (204, 0.0)]
    try:
        async with stack_on(
            "embedded",
            tmp_path,
            bootstrap_admin_email=ADMIN_EMAIL,
            bootstrap_admin_password=ADMIN_PASSWORD,
            webhook_retry_schedule="0.2",
            webhook_idle_seconds=0.2,
        ) as s:
            await sign_in(s.client)
            page = await s.client.get("/console/webhooks")
            made = await s.client.post(
                "/console/webhooks",
                data={"csrf": csrf(page), "url": receiver.url(), "event": "notification.accepted"},
            )
            assert made.status_code == 200 and "whsec_" in made.text
            endpoint = re.search(r"/console/webhooks/([0-9a-f-]{36})/enabled", made.text)
            assert endpoint
            user = await s.user()
            assert (await s.send(s.notification(user["id"]))).status_code == 202
            await receiver.wait_for(2)
            url = f"/console/webhooks/{endpoint.group(1)}"
            shown = await _until_page(s.client, url, ">failed<")
            retry = re.search(rf'action="({url}/deliveries/[0-9a-f-]{{36}}/retry)"', shown)
            assert retry, shown
            done = await s.client.post(retry.group(1), data={"csrf": csrf(shown)})
            assert done.status_code == 303
            await receiver.wait_for(3)
            await _until_page(s.client, url, ">delivered<")
    finally:
        await receiver.stop()


async def test_dead_letters_are_purged_from_the_console(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    smtp_server.rcpt_replies["gone@example.com"] = "550 5.1.1 no such mailbox"
    async with stack_on(
        "servers",
        tmp_path,
        smtp_url=smtp_server.url,
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD,
    ) as s:
        body = s.notification("", to={"email": "gone@example.com"})
        body.pop("user_id")
        sent = await s.send(body)
        assert sent.status_code == 202, sent.text
        await s.until(sent.json()["data"]["notification_id"], "failed")
        await sign_in(s.client)
        page = await _until_page(s.client, "/console/dead-letters", "550 5.1.1")
        purged = await s.client.post("/console/dead-letters/purge", data={"csrf": csrf(page)})
        assert purged.status_code == 303 and "1%20dropped" in purged.headers["location"]
        after = await s.client.get("/console/dead-letters")
        assert "None." in after.text


async def _until_page(client: httpx.AsyncClient, path: str, text: str) -> str:
    for _ in range(100):
        page = await client.get(path)
        if text in page.text:
            return page.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{text!r} never showed on {path}:\n{page.text[:3000]}")
