"""Audiences on Herald's distributed setup, beside the raw speed of the same
infrastructure in the same run: batches of 1,000 accepted, and a send to a topic of
100,000 subscribers fanned out and delivered to a local SMTP sink.

    python -m bench.audiences [--batches 20] [--subscribers 100000]

Prints a table and writes ``bench/results/audiences-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from tests.e2e.processes import Services, notification
from tests.servers import stored_users
from tests.smtp import free_port

from bench import ceilings
from bench.http import LoadClient
from bench.report import ceiling_lines, save
from bench.run import drained, memory, rss_mb
from bench.sink import SinkProcess
from bench.stack import five_services

API_KEY = "hk_bench_" + "k" * 40
BATCH = 1000


async def batches(
    load: LoadClient, count: int, item: Callable[[int], dict[str, Any]], clients: int = 2
) -> dict[str, float]:
    """``count`` batches of 1,000, ``clients`` posting back to back: the notifications
    accepted per second and each batch's time to its 207."""
    latencies: list[float] = []
    accepted = 0
    queue = list(range(count))

    async def client() -> None:
        nonlocal accepted
        while queue:
            queue.pop()
            items = [item(i) for i in range(BATCH)]
            sent = time.perf_counter()
            answer = await load.post("/api/v1/notifications/batch", {"notifications": items})
            latencies.append(time.perf_counter() - sent)
            assert answer.status_code == 207, answer.body[:300]
            accepted += sum(1 for r in answer.json()["data"] if r["status_code"] == 202)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "batches": count,
        "accepted": accepted,
        "accepted_per_s": round(accepted / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


class PeakMemory:
    """Each service's largest RSS, sampled four times a second."""

    def __init__(self, stack: Services) -> None:
        self.stack = stack
        self.peak: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            for name, p in self.stack.processes.items():
                if p.popen is not None:
                    self.peak[name] = max(self.peak.get(name, 0.0), round(rss_mb(p.popen.pid), 1))
            await asyncio.sleep(0.25)

    def __enter__(self) -> PeakMemory:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def topic_send(
    client: httpx.AsyncClient, sink: SinkProcess, stack: Services, users_dsn: str, size: int
) -> dict[str, Any]:
    started = time.perf_counter()
    users = await stored_users(users_dsn, size)
    stored = time.perf_counter() - started
    await client.post("/api/v1/topics/", json={"key": "everyone", "name": "Everyone"})
    subscribe_ms = []
    for at in range(0, size, 10_000):
        sent = time.perf_counter()
        answer = await client.post(
            "/api/v1/topics/everyone/subscribers", json={"user_ids": users[at : at + 10_000]}
        )
        assert answer.status_code == 200, answer.text
        subscribe_ms.append((time.perf_counter() - sent) * 1000)
    sink.clear()
    with PeakMemory(stack) as peak:
        sent_at = time.monotonic()
        answer = await client.post(
            "/api/v1/notifications/",
            json={**notification(users[0]), "user_id": None, "topic": "everyone"},
        )
        answered_ms = (time.monotonic() - sent_at) * 1000
        assert answer.status_code == 202, answer.text
        parent_id = answer.json()["data"]["notification_id"]
        while True:
            parent = (await client.get(f"/api/v1/notifications/{parent_id}")).json()["data"]
            if parent["status"] == "delivered":
                break
            await asyncio.sleep(0.2)
        await drained(sink, size)
    created = datetime.fromisoformat(parent["created_at"])
    finished = datetime.fromisoformat(parent["updated_at"])
    fanout_s = (finished - created).total_seconds()
    last = max(sink.arrivals.values()) - sent_at if sink.arrivals else float("nan")
    return {
        "subscribers": size,
        "users_stored_s": round(stored, 1),
        "subscribe_10000_ms_median": round(statistics.median(subscribe_ms), 1),
        "send_answered_ms": round(answered_ms, 1),
        "fanout": parent["fanout"],
        "fanout_s": round(fanout_s, 2),
        "children_per_s": round(size / fanout_s, 1),
        "delivered": len(sink.arrivals),
        "duplicates": sink.count - len(sink.arrivals),
        "send_to_last_delivery_s": round(last, 1),
        "delivered_per_s": round(len(sink.arrivals) / last, 1),
        "peak_memory_mb": peak.peak,
    }


async def main(count: int, subscribers: int) -> dict[str, Any]:
    sink = SinkProcess(free_port())
    await sink.start()
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        async with five_services(
            smtp_url=sink.url,
            api_key=API_KEY,
            HERALD_RATE_LIMIT_PER_RECIPIENT="10000000/minute",
        ) as bench:
            stack = bench.stack
            await asyncio.sleep(2)
            result["memory_idle_mb"] = memory(stack)
            gateway_dsn = bench.database_url("gateway").replace("+asyncpg", "")
            result["ceilings"] = {
                "postgres_bulk_rows_per_s": round(
                    await ceilings.postgres_bulk_inserts(gateway_dsn), 1
                ),
                "smtp_messages_per_s": round(await ceilings.smtp_messages(sink.port), 1),
            }
            sink.clear()
            auth = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                base_url=stack.url("gateway"), headers=auth, timeout=120
            ) as client:
                user = (
                    await client.post(
                        "/api/v1/users/",
                        json={
                            "name": "Ada",
                            "email": "ada@example.com",
                            "password": "correct horse",
                        },
                    )
                ).json()["data"]
                load = LoadClient.for_url(stack.url("gateway"), headers=auth)
                result["batch_users"] = await batches(
                    load, count, lambda _: notification(user["id"])
                )
                result["batch_addresses"] = await batches(
                    load,
                    count,
                    lambda i: {
                        **notification(user["id"]),
                        "user_id": None,
                        "to": {"email": f"r{uuid.uuid4().hex[:12]}@example.com"},
                    },
                )
                await load.close()
                await drained(sink, 2 * count * BATCH)
                result["topic"] = await topic_send(
                    client,
                    sink,
                    stack,
                    bench.database_url("users").replace("+asyncpg", ""),
                    subscribers,
                )
            result["memory_after_mb"] = memory(stack)
    finally:
        await sink.stop()
    ceiling = result["ceilings"]
    result["ratios"] = {
        "batch_vs_postgres_bulk": round(
            result["batch_users"]["accepted_per_s"] / ceiling["postgres_bulk_rows_per_s"], 3
        ),
        "fanout_vs_postgres_bulk": round(
            result["topic"]["children_per_s"] / ceiling["postgres_bulk_rows_per_s"], 3
        ),
        "topic_delivery_vs_smtp": round(
            result["topic"]["delivered_per_s"] / ceiling["smtp_messages_per_s"], 3
        ),
    }
    return result


def table(result: dict[str, Any]) -> str:
    lines = ["stage                           accepted/s   p50 ms   p99 ms   max ms"]
    for label, key in (
        ("batch of 1,000 (users)", "batch_users"),
        ("batch of 1,000 (to)", "batch_addresses"),
    ):
        row = result[key]
        lines.append(
            f"{label:<30} {row['accepted_per_s']:>11.1f} {row['p50_ms']:>8.1f}"
            f" {row['p99_ms']:>8.1f} {row['max_ms']:>8.1f}"
        )
    topic = result["topic"]
    lines += [
        "",
        f"topic    {topic['subscribers']} subscribers:"
        f" send answered in {topic['send_answered_ms']} ms;"
        f" fan-out {topic['fanout_s']} s ({topic['children_per_s']} children/s);"
        f" {topic['delivered']} delivered, {topic['duplicates']} twice;"
        f" last delivery {topic['send_to_last_delivery_s']} s after the send"
        f" ({topic['delivered_per_s']}/s)",
        f"topic    subscribing 10,000 users: {topic['subscribe_10000_ms_median']} ms (median)",
        "memory   peak during the topic send (RSS, MB): "
        + ", ".join(f"{k} {v}" for k, v in topic["peak_memory_mb"].items()),
        "",
        *ceiling_lines(result),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--subscribers", type=int, default=100_000)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.batches, args.subscribers))
    print(table(outcome))
    print(f"\nwritten to {save('audiences', outcome)}")
