"""``POST /api/v1/notifications/batch`` on the embedded adapters and on the real
servers: each item judged on its own, results in input order, idempotent items."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.pipeline import Stack, stack_on


@pytest_asyncio.fixture(params=["embedded", "servers"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_on(request.param, tmp_path, rate_limit_per_recipient="5/minute") as s:
        yield s


async def batch(stack: Stack, items: list[Any]) -> Any:
    return await stack.client.post(
        "/api/v1/notifications/batch", json={"notifications": items}, headers=stack.auth
    )


class TestBatch:
    async def test_each_item_is_judged_alone_and_answered_in_order(self, stack: Stack) -> None:
        user = await stack.user()
        good = [stack.notification(user["id"]) for _ in range(3)]
        bad = {**stack.notification(user["id"]), "priority": 42}
        unknown = stack.notification("00000000-0000-0000-0000-000000000000")
        answered = await batch(stack, [good[0], bad, good[1], unknown, good[2]])
        assert answered.status_code == 207, answered.text
        results = answered.json()["data"]
        assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
        assert [r["status_code"] for r in results] == [202, 422, 202, 404, 202]
        assert "priority" in results[1]["error"] and results[1]["notification_id"] is None
        for r in (results[0], results[2], results[4]):
            found = await stack.status(r["notification_id"])
            assert found["status"] in ("pending", "failed")  # nothing listens on SMTP

    async def test_a_replayed_batch_stores_nothing_new(self, stack: Stack) -> None:
        user = await stack.user()
        items = [stack.notification(user["id"]) for _ in range(2)]
        first = (await batch(stack, items)).json()["data"]
        again = (await batch(stack, items)).json()["data"]
        assert [r["notification_id"] for r in again] == [r["notification_id"] for r in first]
        assert all(r["status_code"] == 202 for r in again)
        listed = await stack.client.get(
            "/api/v1/notifications/", params={"user_id": user["id"]}, headers=stack.auth
        )
        assert listed.json()["meta"]["total"] == 2
        # ... the replays spent no rate limit: three more fit the recipient's five
        more = (await batch(stack, [stack.notification(user["id"]) for _ in range(4)])).json()
        assert [r["status_code"] for r in more["data"]] == [202, 202, 202, 429]

    async def test_the_same_request_id_twice_in_one_batch(self, stack: Stack) -> None:
        user = await stack.user()
        one = stack.notification(user["id"])
        other = {**one, "priority": 9}  # the same request_id, another body
        results = (await batch(stack, [one, one, other])).json()["data"]
        assert [r["status_code"] for r in results] == [202, 202, 409]
        assert results[0]["notification_id"] == results[1]["notification_id"]

    async def test_limits(self, stack: Stack) -> None:
        assert (await batch(stack, [])).status_code == 422
        user = await stack.user()
        many = [stack.notification(user["id"]) for _ in range(1001)]
        over = await stack.client.post(
            "/api/v1/notifications/batch",
            content=json.dumps({"notifications": many}),
            headers={**stack.auth, "Content-Type": "application/json"},
        )
        assert over.status_code == 413 and "1000" in over.json()["error"]
