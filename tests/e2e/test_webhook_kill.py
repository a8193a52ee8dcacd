"""Webhook events are never lost: a gateway killed with SIGKILL right after status
changes commit, and a webhook worker killed in the middle of deliveries, still leave
every event delivered at least once, each attempt of one event under one webhook-id."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import httpx

from tests.e2e.processes import create_user, notification, own_stack
from tests.smtp import SmtpServer
from tests.webhookreceiver import WebhookReceiver

API_KEY = "hk_hook_" + "k" * 40
COUNT = 40
NAMES = ("users", "templates", "gateway", "email_worker", "webhook_worker")


async def test_events_survive_sigkill_of_the_gateway_and_of_the_webhook_worker(
    amqp_url: str, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    receiver = WebhookReceiver()
    # Each answer takes a while: a kill lands while deliveries are under way.
    receiver.scripts["/hook"] = [(200, 0.3)]
    await receiver.start()
    async with own_stack(
        amqp_url,
        tmp_path,
        NAMES,
        api_key=API_KEY,
        smtp_url=smtp_server.url,
        HERALD_ALLOW_PRIVATE_TARGETS="true",
        HERALD_WEBHOOK_TIMEOUT="2",
        HERALD_WEBHOOK_IDLE_SECONDS="0.1",
        HERALD_WEBHOOK_CONCURRENCY_PER_ENDPOINT="4",
    ) as (stack, _):
        auth = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(
            base_url=stack.url("gateway"), headers=auth, timeout=30
        ) as client:
            registered = await client.post(
                "/api/v1/webhooks/",
                json={
                    "url": receiver.url(),
                    "events": ["notification.accepted", "notification.delivered"],
                },
            )
            assert registered.status_code == 201, registered.text
            user = await create_user(client)
            batch = await client.post(
                "/api/v1/notifications/batch",
                json={"notifications": [notification(user["id"]) for _ in range(COUNT)]},
            )
            assert batch.status_code == 207, batch.text
            ids = {r["notification_id"] for r in batch.json()["data"]}

            # The gateway, the moment the first status change has committed.
            for _ in range(300):
                found = await client.get("/api/v1/notifications/", params={"status": "delivered"})
                if found.json()["data"]:
                    break
                await asyncio.sleep(0.02)
            stack["gateway"].kill()
            stack["gateway"].start()
            await stack["gateway"].wait_healthy()

            # The webhook worker, while its posts wait for their answers.
            seen = len(receiver.received)
            deadline = time.monotonic() + 20
            while len(receiver.received) == seen and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            cut = {h.headers["webhook-id"] for h in receiver.received[seen:]}
            stack["webhook_worker"].kill()
            assert cut, "no delivery was under way"
            stack["webhook_worker"].start()
            await stack["webhook_worker"].wait_healthy()

            wanted = {(nid, kind) for nid in ids for kind in ("accepted", "delivered")}
            deadline = time.monotonic() + 90
            while True:
                got = {
                    (h.event["data"]["notification_id"], h.event["type"].rpartition(".")[2])
                    for h in receiver.received
                }
                # Those cut off arrived once already: their lease ends, and they come again.
                again = {
                    w
                    for w in cut
                    if sum(h.headers["webhook-id"] == w for h in receiver.received) >= 2
                }
                if (wanted <= got and again == cut) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert wanted - got == set(), f"{len(wanted - got)} events never arrived"
    await receiver.stop()

    # Every attempt of one event carried one webhook-id; those cut off came again.
    ids_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    arrivals: dict[str, int] = defaultdict(int)
    for h in receiver.received:
        ids_of[(h.event["data"]["notification_id"], h.event["type"])].add(h.headers["webhook-id"])
        arrivals[h.headers["webhook-id"]] += 1
    assert all(len(v) == 1 for v in ids_of.values())
    assert all(arrivals[w] >= 2 for w in cut), {w: arrivals[w] for w in cut}
