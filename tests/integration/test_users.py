"""The users service through its HTTP API, on PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest_asyncio

from herald import bootstrap
from herald.domain import cachekeys
from tests.integration.helpers import ADMIN, SECRET, SERVICE, browser_subscription, running, token
from tests.integration.helpers import settings as make_settings

FCM_TOKEN = "fcm-token-" + "a" * 140


@pytest_asyncio.fixture
async def users(
    postgres_url: str, redis_url: tuple[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    s = make_settings(database_url=postgres_url, redis_url=redis_url[0], key_prefix=redis_url[1])
    await bootstrap.migrate(s, ["users"])
    infra = bootstrap.Infra(s)
    app = bootstrap.own(bootstrap.users_app(infra), infra)
    async with running(app) as client:
        yield client, infra.cache


def new_user(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Ada Lovelace",
        "email": "Ada@Example.com",
        "password": "correct horse",
        "push_token": None,
        "preferences": {"email": True, "push": True},
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/users/", json=new_user(**overrides), headers=ADMIN)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


class TestCreateAndRead:
    async def test_create_returns_the_user_without_the_password(self, users) -> None:
        client, _ = users
        response = await client.post(
            "/api/v1/users/", json=new_user(locale="pt_br", timezone="Europe/Paris"), headers=ADMIN
        )
        assert response.status_code == 201
        body = response.json()
        assert body["success"] is True and body["error"] is None
        user = body["data"]
        assert user["email"] == "ada@example.com"  # normalised
        assert user["locale"] == "pt-BR"
        assert user["preferences"] == {
            "email": True,
            "push": True,
            "sms": True,
            "chat": True,
            "in_app": True,
            "quiet_hours": None,
        }
        assert "password" not in response.text and "password_hash" not in response.text
        read = await client.get(f"/api/v1/users/{user['id']}", headers=ADMIN)
        assert read.json()["data"] == user

    async def test_duplicate_email_is_409(self, users) -> None:
        client, _ = users
        await create(client)
        again = await client.post(
            "/api/v1/users/", json=new_user(email="ADA@example.com"), headers=ADMIN
        )
        assert again.status_code == 409
        assert "already exists" in again.json()["error"]

    async def test_bad_input_is_422_naming_the_problem(self, users) -> None:
        client, _ = users
        cases = [
            (new_user(email="not-an-email"), "email"),
            (new_user(password="short"), "password"),
            (new_user(surprise=1), "unknown field 'surprise'"),
            (new_user(locale="??"), "locale"),
            (new_user(timezone="Mars/Olympus"), "timezone"),
            (new_user(push_token="bad token!"), "push_token"),
            ({"email": "a@b.co"}, "missing field 'name'"),
        ]
        for body, named in cases:
            response = await client.post("/api/v1/users/", json=body, headers=ADMIN)
            assert response.status_code == 422, body
            assert named in response.json()["error"], response.json()["error"]

    async def test_push_token_creates_an_fcm_device(self, users) -> None:
        client, _ = users
        user = await create(client, push_token=FCM_TOKEN)
        devices = (await client.get(f"/api/v1/users/{user['id']}/devices", headers=ADMIN)).json()
        assert [(d["kind"], d["token"]) for d in devices["data"]] == [("fcm", FCM_TOKEN)]

    async def test_list_is_paginated(self, users) -> None:
        client, _ = users
        for n in range(5):
            await create(client, email=f"u{n}@example.com")
        page = (await client.get("/api/v1/users/?page=2&limit=2", headers=ADMIN)).json()
        assert len(page["data"]) == 2
        assert page["meta"] == {
            "total": 5,
            "limit": 2,
            "page": 2,
            "total_pages": 3,
            "has_next": True,
            "has_previous": True,
        }
        bad = await client.get("/api/v1/users/?limit=1000", headers=ADMIN)
        assert bad.status_code == 422

    async def test_unknown_user_is_404(self, users) -> None:
        client, _ = users
        missing = "00000000-0000-4000-8000-000000000000"
        for method in ("GET", "DELETE"):
            response = await client.request(method, f"/api/v1/users/{missing}", headers=ADMIN)
            assert response.status_code == 404
        assert (await client.get("/api/v1/users/not-a-uuid", headers=ADMIN)).status_code == 422


class TestChanges:
    async def test_patch_and_delete(self, users) -> None:
        client, _ = users
        user = await create(client)
        patched = await client.patch(
            f"/api/v1/users/{user['id']}", json={"name": "Ada King", "locale": "fr"}, headers=ADMIN
        )
        assert patched.status_code == 200
        assert patched.json()["data"]["name"] == "Ada King"
        assert patched.json()["data"]["email"] == "ada@example.com"
        other = await create(client, email="other@example.com")
        clash = await client.patch(
            f"/api/v1/users/{other['id']}", json={"email": "ada@example.com"}, headers=ADMIN
        )
        assert clash.status_code == 409
        assert (
            await client.delete(f"/api/v1/users/{user['id']}", headers=ADMIN)
        ).status_code == 200
        assert (await client.get(f"/api/v1/users/{user['id']}", headers=ADMIN)).status_code == 404

    async def test_preferences_change_invalidates_the_cached_contact(self, users) -> None:
        client, cache = users
        user = await create(client)
        key = cachekeys.user_contact(user["id"])
        await cache.set(key, b"stale", ttl=60)
        response = await client.put(
            f"/api/v1/users/{user['id']}/preferences",
            json={"email": False, "push": True},
            headers=ADMIN,
        )
        assert response.json()["data"] == {
            "email": False,
            "push": True,
            "sms": True,
            "chat": True,
            "in_app": True,
            "quiet_hours": None,
        }
        assert await cache.get(key) is None
        contact = await client.get(f"/internal/users/{user['id']}/contact", headers=SERVICE)
        assert contact.json()["data"]["preferences"] == {
            "email": False,
            "push": True,
            "sms": True,
            "chat": True,
            "in_app": True,
        }


class TestDevices:
    async def test_web_push_subscription_is_validated_and_listed(self, users) -> None:
        client, _ = users
        user = await create(client)
        sub, _, _ = browser_subscription("https://push.example.net/send/abc")
        url = f"/api/v1/users/{user['id']}/devices"
        added = await client.post(url, json={"kind": "webpush", "subscription": sub}, headers=ADMIN)
        assert added.status_code == 201, added.text
        device = added.json()["data"]
        assert device["subscription"]["endpoint"] == sub["endpoint"] and device["valid"]
        listed = (await client.get(url, headers=ADMIN)).json()["data"]
        assert [d["id"] for d in listed] == [device["id"]]
        removed = await client.delete(f"{url}/{device['id']}", headers=ADMIN)
        assert removed.status_code == 200
        assert (await client.get(url, headers=ADMIN)).json()["data"] == []

    async def test_malformed_devices_are_422_naming_the_field(self, users) -> None:
        client, _ = users
        user = await create(client)
        url = f"/api/v1/users/{user['id']}/devices"
        good, _, _ = browser_subscription("https://push.example.net/x")
        cases = [
            ({"kind": "fcm", "token": "x"}, "token"),
            (
                {
                    "kind": "webpush",
                    "subscription": {
                        **good,
                        "keys": {"p256dh": "AAAA", "auth": good["keys"]["auth"]},
                    },
                },
                "p256dh",
            ),
            (
                {
                    "kind": "webpush",
                    "subscription": {
                        **good,
                        "keys": {"p256dh": good["keys"]["p256dh"], "auth": "@@"},
                    },
                },
                "auth",
            ),
            (
                {
                    "kind": "webpush",
                    "subscription": {**good, "endpoint": "http://push.example.net/x"},
                },
                "https",
            ),
            (
                {"kind": "webpush", "subscription": {**good, "endpoint": "https://10.1.2.3/x"}},
                "private",
            ),
            ({"kind": "carrier-pigeon", "token": "x"}, "kind"),
        ]
        for body, named in cases:
            response = await client.post(url, json=body, headers=ADMIN)
            assert response.status_code == 422, body
            assert named in response.json()["error"], response.json()["error"]

    async def test_invalidated_devices_are_not_offered_for_sending(self, users) -> None:
        client, _ = users
        user = await create(client, push_token=FCM_TOKEN)
        device = (await client.get(f"/api/v1/users/{user['id']}/devices", headers=ADMIN)).json()[
            "data"
        ][0]
        response = await client.post(
            f"/internal/devices/{device['id']}/invalidate",
            json={"reason": "410 Gone"},
            headers=SERVICE,
        )
        assert response.status_code == 200
        contact = (
            await client.get(f"/internal/users/{user['id']}/contact", headers=SERVICE)
        ).json()["data"]
        assert contact["devices"] == []
        listed = (await client.get(f"/api/v1/users/{user['id']}/devices", headers=ADMIN)).json()[
            "data"
        ]
        assert listed[0]["valid"] is False and listed[0]["invalid_reason"] == "410 Gone"


class TestLoginAndAccess:
    async def test_login_gives_a_token_for_one_user_only(self, users) -> None:
        client, _ = users
        ada = await create(client)
        bob = await create(client, email="bob@example.com")
        login = await client.post(
            "/api/v1/auth/login", json={"email": "ADA@example.com", "password": "correct horse"}
        )
        assert login.status_code == 200
        data = login.json()["data"]
        assert data["token_type"] == "bearer" and data["expires_in"] == 3600
        mine = {"Authorization": f"Bearer {data['access_token']}"}
        assert (await client.get(f"/api/v1/users/{ada['id']}", headers=mine)).status_code == 200
        assert (
            await client.put(
                f"/api/v1/users/{ada['id']}/preferences",
                json={"email": False, "push": True},
                headers=mine,
            )
        ).status_code == 200
        for method, path, body in [
            ("GET", f"/api/v1/users/{bob['id']}", None),
            ("PATCH", f"/api/v1/users/{bob['id']}", {"name": "x"}),
            ("PUT", f"/api/v1/users/{bob['id']}/preferences", {"email": False, "push": False}),
            ("GET", f"/api/v1/users/{bob['id']}/devices", None),
            ("DELETE", f"/api/v1/users/{bob['id']}", None),
            ("GET", "/api/v1/users/", None),
            ("POST", "/api/v1/users/", new_user(email="eve@example.com")),
        ]:
            response = await client.request(method, path, json=body, headers=mine)
            assert response.status_code == 403, (method, path)
        internal = await client.get(f"/internal/users/{ada['id']}/contact", headers=mine)
        assert internal.status_code == 403

    async def test_failed_logins_are_throttled_per_account_and_successes_are_not_counted(
        self, users
    ) -> None:
        client, _ = users
        await create(client)
        right = {"email": "ada@example.com", "password": "correct horse"}
        wrong = {**right, "password": "nope"}
        # Successful logins spend nothing: more of them than the limit allows failures.
        for _ in range(12):
            assert (await client.post("/api/v1/auth/login", json=right)).status_code == 200
        for _ in range(10):  # the default: ten failures per account in 15 minutes
            assert (await client.post("/api/v1/auth/login", json=wrong)).status_code == 401
        # Then even the right password waits
        refused = await client.post("/api/v1/auth/login", json=right)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert "failed logins" in refused.json()["error"]
        # ... while another account of the same client is not held back
        await create(client, email="bob@example.com")
        bob = {"email": "bob@example.com", "password": "correct horse"}
        assert (await client.post("/api/v1/auth/login", json=bob)).status_code == 200

    async def test_failed_logins_are_throttled_per_client_address(
        self, postgres_url: str, redis_url: tuple[str, str]
    ) -> None:
        s = make_settings(
            database_url=postgres_url,
            redis_url=redis_url[0],
            key_prefix=redis_url[1],
            login_failures_per_address="3 per minute",
        )
        await bootstrap.migrate(s, ["users"])
        infra = bootstrap.Infra(s)
        async with running(bootstrap.own(bootstrap.users_app(infra), infra)) as client:
            for n in range(3):
                guess = {"email": f"u{n}@example.com", "password": "nope"}
                assert (await client.post("/api/v1/auth/login", json=guess)).status_code == 401
            other = {"email": "u9@example.com", "password": "nope"}
            assert (await client.post("/api/v1/auth/login", json=other)).status_code == 429

    async def test_a_password_change_revokes_the_tokens_signed_before(self, users) -> None:
        client, _ = users
        ada = await create(client)
        right = {"email": "ada@example.com", "password": "correct horse"}
        old = (await client.post("/api/v1/auth/login", json=right)).json()["data"]
        mine = {"Authorization": f"Bearer {old['access_token']}"}
        path = f"/api/v1/users/{ada['id']}"
        assert (await client.get(path, headers=mine)).status_code == 200
        changed = await client.patch(path, json={"password": "battery staple"}, headers=mine)
        assert changed.status_code == 200
        revoked = await client.get(path, headers=mine)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]
        new = {**right, "password": "battery staple"}
        fresh = (await client.post("/api/v1/auth/login", json=new)).json()["data"]
        again = {"Authorization": f"Bearer {fresh['access_token']}"}
        assert (await client.get(path, headers=again)).status_code == 200

    async def test_wrong_password_and_unknown_email_look_the_same(self, users) -> None:
        client, _ = users
        await create(client)
        wrong = await client.post(
            "/api/v1/auth/login", json={"email": "ada@example.com", "password": "nope"}
        )
        unknown = await client.post(
            "/api/v1/auth/login", json={"email": "who@example.com", "password": "nope"}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json()["error"] == unknown.json()["error"]

    async def test_bad_credentials_are_401(self, users) -> None:
        client, _ = users
        user = await create(client)
        path = f"/api/v1/users/{user['id']}"
        forged = token(scopes=["admin"], secret="another-secret-" + "y" * 40)
        none_alg = jwt.encode(
            {
                "sub": "apikey:x",
                "iss": "herald",
                "scopes": ["admin"],
                "iat": 0,
                "exp": 9_999_999_999,
            },
            key="",
            algorithm="none",
        )
        for headers in [
            {},
            {"Authorization": "Basic abc"},
            forged,
            {"Authorization": f"Bearer {none_alg}"},
            {"Authorization": "Bearer not.a.token"},
        ]:
            response = await client.get(path, headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["success"] is False
        assert SECRET not in (await client.get(path, headers=forged)).text
