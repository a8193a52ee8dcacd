"""Eight faults under steady load. Each ends with nothing lost, every accepted
notification in a final status, and no secret in any log; duplicates are reported
(build/faults.json, docs/reliability.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import defaultdict
from pathlib import Path

import httpx

from herald.devmode.secrets import generate_vapid_pem
from tests.e2e.processes import notification
from tests.faults.harness import Faulty, Load, Row, during, faulty, tally
from tests.integration.helpers import browser_subscription
from tests.pushserver import PushServer
from tests.webhookreceiver import WebhookReceiver

RATE = 15  # notifications per second, open loop
OUTAGE = 15.0


def settled(row: Row, stack: Faulty) -> None:
    assert row.accepted > 0
    assert row.lost == 0, row
    assert row.not_final == 0, row
    assert not stack.leaked(), stack.leaked()


async def first_accepted(stack: Faulty) -> float:
    """Seconds until the gateway accepts a notification again, by itself: no restart
    of any service."""
    began = time.monotonic()
    async with httpx.AsyncClient(
        base_url=stack.services.url("gateway"), headers=stack.client.headers
    ) as probe:
        while (
            await probe.post("/api/v1/notifications/", json=notification(stack.user_id))
        ).status_code != 202:
            await asyncio.sleep(0.2)
    return time.monotonic() - began


async def restart_postgres() -> float:
    """Restart the machine's PostgreSQL (fast shutdown: every session ended, as when a
    primary is replaced); seconds it took. It is started again whatever happens."""
    cluster = ["--skip-systemctl-redirect", *os.listdir("/etc/postgresql")[:1], "main"]
    began = time.monotonic()
    try:
        await _run("pg_ctlcluster", *cluster, "restart", "-m", "fast")
    finally:
        if await _run("pg_isready", "-h", "127.0.0.1", "-q", check=False):
            await _run("pg_ctlcluster", *cluster, "start")
    return time.monotonic() - began


async def _run(*command: str, check: bool = True) -> int:
    process = await asyncio.create_subprocess_exec(*command)
    code = await process.wait()
    assert code == 0 or not check, f"{command} exited {code}"
    return code


KILLED = ("email_worker", "push_worker", "in_app_worker", "webhook_worker")
KILLED += ("users", "templates", "gateway")


async def delivered_events(
    receiver: WebhookReceiver, ids: set[str], timeout: float = 30
) -> dict[str, set[str]]:
    """The webhook-ids of each ``notification.delivered`` event of ``ids`` received,
    once all have come or ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, set[str]] = defaultdict(set)
        for hook in receiver.received:
            nid = hook.event["data"]["notification_id"]
            if nid in ids:
                found[nid].add(hook.headers["webhook-id"])
        if set(found) == ids or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


async def restart(stack: Faulty, name: str) -> None:
    await asyncio.to_thread(stack.services[name].kill, signal.SIGKILL)
    stack.services[name].start()
    await stack.services[name].wait_healthy()


class TestFaults:
    async def test_email_worker_killed(self, tmp_path: Path) -> None:
        async with faulty(tmp_path) as stack:
            load = Load(stack, RATE)
            await during(load, 12, lambda: restart(stack, "email_worker"))
            row = await tally("email worker SIGKILL, restarted", stack, load)
        settled(row, stack)
        assert row.delivered == row.accepted

    async def test_gateway_killed_under_load(self, tmp_path: Path) -> None:
        async with faulty(tmp_path) as stack:
            load = Load(stack, RATE)
            await during(load, 12, lambda: restart(stack, "gateway"))
            row = await tally("gateway SIGKILL under load, restarted", stack, load)
        settled(row, stack)
        # Every request that got a 202 is delivered; the others got no answer at all.
        assert row.delivered == row.accepted
        assert set(row.refused) <= {"ConnectError", "RemoteProtocolError", "ReadError"}, row

    async def test_one_replica_of_each_killed_under_load(self, tmp_path: Path) -> None:
        """Two of every service (users, templates and gateways behind balancers; two
        email, push, in-app and webhook workers each on their queue or table), under
        emails, pushes and in-app notifications in turn with a webhook endpoint
        listening; one of each is killed with SIGKILL mid-load and not restarted. The
        other of each carries on."""
        receiver, pushes = WebhookReceiver(), PushServer()
        await receiver.start()
        await pushes.start()
        async with faulty(
            tmp_path,
            replicas=True,
            HERALD_ALLOW_PRIVATE_TARGETS="true",
            HERALD_WEBHOOK_IDLE_SECONDS="0.2",
            HERALD_VAPID_PRIVATE_KEY=generate_vapid_pem(),
        ) as stack:
            registered = await stack.client.post(
                "/api/v1/webhooks/",
                json={"url": receiver.url(), "events": ["notification.delivered"]},
            )
            assert registered.status_code == 201, registered.text
            subscription, _, _ = browser_subscription(f"{pushes.url}/wp/ada")
            device = await stack.client.post(
                f"/api/v1/users/{stack.user_id}/devices",
                json={"kind": "webpush", "subscription": subscription},
            )
            assert device.status_code == 201, device.text
            stack.pushes = pushes
            load = Load(stack, RATE, kinds=("email", "in_app", "push"))

            async def kill_one_of_each() -> None:
                for name in KILLED:
                    await asyncio.to_thread(stack.services[name].kill, signal.SIGKILL)
                    await asyncio.sleep(1)

            await during(load, 14, kill_one_of_each)
            row = await tally("one replica of each SIGKILL under load", stack, load)
            # Each delivered notification's event reached the endpoint, made once (one
            # webhook-id; the same id twice would be a retried post, which the
            # receiver's dedupe by id absorbs).
            events = await delivered_events(receiver, set(load.accepted))
        await receiver.stop()
        await pushes.stop()
        settled(row, stack)
        assert row.delivered == row.accepted
        assert row.duplicates == 0, row
        assert set(events) == set(load.accepted), len(set(load.accepted) - set(events))
        assert all(len(ids) == 1 for ids in events.values()), events
        # Only what the killed gateway was answering gets no answer; nothing else fails.
        assert set(row.refused) <= {"RemoteProtocolError", "ReadError"}, row

    async def test_rabbitmq_unreachable(self, tmp_path: Path) -> None:
        async with faulty(tmp_path) as stack:
            load = Load(stack, RATE)
            ready: list[int] = []

            async def outage() -> None:
                await stack.rabbitmq.disconnect()
                await asyncio.sleep(2)
                ready.append((await stack.client.get("/ready")).status_code)
                await asyncio.sleep(OUTAGE - 2)
                stack.rabbitmq.restore()

            await during(load, OUTAGE + 8, outage)
            row = await tally(f"RabbitMQ unreachable {OUTAGE:.0f} s", stack, load)
        settled(row, stack)
        # The gateway keeps accepting into its outbox while the broker is away, and
        # says it is not ready.
        assert not row.refused, row
        assert ready == [503], ready
        assert row.delivered == row.accepted

    async def test_smtp_down(self, tmp_path: Path) -> None:
        async with faulty(tmp_path) as stack:
            load = Load(stack, RATE)

            async def outage() -> None:
                stack.smtp.stop()
                await asyncio.sleep(OUTAGE)
                stack.smtp.start()

            await during(load, OUTAGE + 8, outage)
            row = await tally(f"SMTP server down {OUTAGE:.0f} s", stack, load)
        settled(row, stack)
        assert not row.refused, row
        assert row.retried > 0, row  # the outage was felt, and retried through
        assert row.delivered == row.accepted

    async def test_redis_unreachable(self, tmp_path: Path) -> None:
        async with faulty(tmp_path) as stack:
            load = Load(stack, RATE)
            during_outage: list[int] = []

            async def outage() -> None:
                await stack.redis.disconnect()
                before = len(load.accepted)
                await asyncio.sleep(OUTAGE)
                during_outage.append(len(load.accepted) - before)
                stack.redis.restore()

            await during(load, OUTAGE + 8, outage)
            row = await tally(f"Redis unreachable {OUTAGE:.0f} s", stack, load)
        settled(row, stack)
        # Sending goes on: rate limits fail open and the caches are bypassed.
        assert not row.refused, row
        assert during_outage[0] >= OUTAGE * RATE * 0.8, during_outage
        assert row.delivered == row.accepted

    async def test_postgres_unreachable(self, tmp_path: Path) -> None:
        async with faulty(tmp_path) as stack:
            load = Load(stack, RATE)
            recovered: list[float] = []

            async def outage() -> None:
                await stack.postgres.disconnect()
                await asyncio.sleep(10)
                stack.postgres.restore()
                recovered.append(await first_accepted(stack))

            await during(load, 18, outage)
            row = await tally("PostgreSQL unreachable 10 s", stack, load)
        settled(row, stack)
        # While it is away the gateway says 503, quickly, never 500 or a hang.
        assert set(row.refused) == {"503"}, row
        assert load.slowest_refusal < 3.0, load.slowest_refusal
        assert recovered and recovered[0] < 10, recovered

    async def test_postgres_restarted_under_load(self, tmp_path: Path) -> None:
        """The server itself restarted, as when a primary is replaced: every open
        session ends mid-transaction, and the services reconnect on their own."""
        async with faulty(tmp_path) as stack:
            load = Load(stack, RATE)
            took: dict[str, float] = {}

            async def replaced() -> None:
                took["restart"] = await restart_postgres()
                took["accepting"] = await first_accepted(stack)

            await during(load, 15, replaced)
            row = await tally("PostgreSQL restarted", stack, load)
        print(f"restart {took}")
        settled(row, stack)
        assert row.delivered == row.accepted
        assert row.duplicates == 0, row
        # Requests the restart caught get a quick 503 (or none refused at all): never
        # a 500 or a hang.
        assert set(row.refused) <= {"503"}, row
        assert load.slowest_refusal < 3.0, load.slowest_refusal
        assert took["accepting"] < 5, took
