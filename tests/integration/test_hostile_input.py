"""Hostile input at the door, on SQLite with the embedded adapters and on the real
servers: every answer is a clear 4xx, never a 500, and nothing stored is unreadable.
docs/reliability.md's "hostile input" table names these tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.integration.helpers import b64url
from tests.integration.pipeline import Stack, stack_on


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_on(request.param, tmp_path) as s:
        yield s


def error_of(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    assert body["success"] is False
    return str(body["error"])


LINK = "https://example.com/start"
SURROGATES = {
    "metadata": {"metadata": {"x": "\ud83d"}},
    "variables.meta": {"variables": {"name": "Ada", "link": LINK, "meta": {"x": "\ud83d"}}},
    "variables.name": {"variables": {"name": "\udc00", "link": LINK}},
    "request_id": {"request_id": "a\ud83d"},
}


class TestUnreadableText:
    @pytest.mark.parametrize("where", SURROGATES)
    async def test_a_lone_surrogate_is_refused_and_lists_still_read(
        self, stack: Stack, where: str
    ) -> None:
        user = await stack.user()
        # json.dumps writes a lone surrogate as the escape \ud83d, as a client would.
        raw = json.dumps(stack.notification(user["id"], **SURROGATES[where]))
        sent = await stack.client.post(
            "/api/v1/notifications/",
            content=raw,
            headers={**stack.auth, "Content-Type": "application/json"},
        )
        assert sent.status_code == 422, sent.text
        assert "surrogate" in error_of(sent)
        listed = await stack.client.get("/api/v1/notifications/", headers=stack.auth)
        assert listed.status_code == 200

    async def test_a_lone_surrogate_in_preview_variables_is_refused(self, stack: Stack) -> None:
        raw = json.dumps({"variables": {"name": "\udc00", "link": "https://e.com"}})
        previewed = await stack.client.post(
            "/api/v1/templates/welcome/preview?channel=email",
            content=raw,
            headers={**stack.auth, "Content-Type": "application/json"},
        )
        assert previewed.status_code == 422, previewed.text


class TestTokens:
    async def test_a_deeply_nested_token_header_is_a_401(self, stack: Stack) -> None:
        header = b64url(b"[" * 1000 + b"]" * 1000)
        token = f"{header}.{b64url(b'{}')}.{b64url(b'x' * 32)}"
        for path in ("/api/v1/notifications/", "/api/v1/users/me"):
            answered = await stack.client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert answered.status_code == 401, (path, answered.text)
        unsubscribed = await stack.client.get(f"/api/v1/unsubscribe/{token}")
        assert unsubscribed.status_code in (400, 401), unsubscribed.text


class TestOutOfRange:
    @pytest.mark.parametrize("version", [2**31, 2**63, 10**30])
    async def test_a_template_version_out_of_range_is_a_404_or_422(
        self, stack: Stack, version: int
    ) -> None:
        answered = await stack.client.get(
            f"/api/v1/templates/welcome?channel=email&version={version}", headers=stack.auth
        )
        assert answered.status_code in (404, 422), answered.text
        assert "Retry-After" not in answered.headers


class TestProxyPaths:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/templates/../../../internal/templates/welcome/heads?channel=email",
            "/api/v1/templates/%2e%2e/%2e%2e/%2e%2e/internal/templates/welcome/heads",
            "/api/v1/users/..%2f..%2f..%2finternal/users",
            "/api/v1/users/./../../internal/users",
        ],
    )
    async def test_dot_segments_cannot_leave_the_public_prefix(
        self, stack: Stack, path: str
    ) -> None:
        answered = await stack.client.get(path, headers=stack.auth)
        assert answered.status_code in (400, 404), answered.text
        assert answered.json()["success"] is False


class TestLimits:
    async def test_variables_past_the_cap_are_refused(self, stack: Stack) -> None:
        user = await stack.user()
        big = {"name": "Ada", "link": LINK, "meta": {"blob": "x" * 70_000}}
        sent = await stack.send(stack.notification(user["id"], variables=big))
        assert sent.status_code == 422 and "variables are" in error_of(sent)
