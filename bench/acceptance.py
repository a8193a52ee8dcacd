"""What accepting a batch costs each process: the five services on the real servers,
the email and push workers stopped (SIGSTOP) so that only acceptance and the relay
run, batches of 1,000 posted by two clients, each process's CPU read from ``/proc``
before and after, beside PostgreSQL's bulk-insert ceiling of the same run.

    python -m bench.acceptance [--batches 30] [--to]

``--to``: items to new addresses instead of a stored user. Prints a table and writes
``bench/results/acceptance-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from tests.e2e.processes import Services, create_user, notification
from tests.smtp import free_port

from bench import ceilings
from bench.audiences import API_KEY, batches
from bench.http import LoadClient
from bench.report import save
from bench.run import cpu_by_process, cpu_seconds_spent
from bench.sink import SinkProcess
from bench.stack import five_services

WORKERS = ("email_worker", "push_worker")


@contextmanager
def workers_stopped(stack: Services) -> Iterator[None]:
    for name in WORKERS:
        os.kill(stack[name].popen.pid, signal.SIGSTOP)  # type: ignore[union-attr]
    try:
        yield
    finally:
        for name in WORKERS:
            os.kill(stack[name].popen.pid, signal.SIGCONT)  # type: ignore[union-attr]


async def main(count: int, to: bool) -> dict[str, Any]:
    sink = SinkProcess(free_port())
    await sink.start()
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        async with five_services(
            smtp_url=sink.url, api_key=API_KEY, HERALD_RATE_LIMIT_PER_RECIPIENT="10000000/minute"
        ) as bench:
            stack = bench.stack
            gateway_dsn = bench.database_url("gateway").replace("+asyncpg", "")
            result["ceilings"] = {
                "postgres_bulk_rows_per_s": round(
                    await ceilings.postgres_bulk_inserts(gateway_dsn), 1
                )
            }
            auth = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                base_url=stack.url("gateway"), headers=auth, timeout=120
            ) as client:
                user_id = (await create_user(client))["id"]

            def item(_: int) -> dict[str, Any]:
                if not to:
                    return notification(user_id)
                address = f"r{uuid.uuid4().hex[:12]}@example.com"
                return {**notification(user_id), "user_id": None, "to": {"email": address}}

            load = LoadClient.for_url(stack.url("gateway"), headers=auth)
            with workers_stopped(stack):
                await batches(load, 4, item)  # warm: caches, connections, code paths
                before = cpu_by_process(stack, sink)
                started = time.perf_counter()
                result["batches"] = await batches(load, count, item)
                elapsed = time.perf_counter() - started
                spent = cpu_seconds_spent(before, cpu_by_process(stack, sink))
            await load.close()
    finally:
        await sink.stop()
    accepted = result["batches"]["accepted"]
    result["items"] = "to" if to else "user_id"
    result["cpu_us_per_notification"] = {
        name: round(seconds * 1e6 / accepted, 1)
        for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1])
        if seconds > 0
    }
    result["cores_busy"] = round(sum(spent.values()) / elapsed, 2)
    result["ratio_vs_postgres_bulk"] = round(
        result["batches"]["accepted_per_s"] / result["ceilings"]["postgres_bulk_rows_per_s"], 3
    )
    return result


def table(result: dict[str, Any]) -> str:
    b = result["batches"]
    lines = [
        f"batches of 1,000 ({result['items']} items), workers stopped: "
        f"{b['accepted_per_s']:.1f} accepted/s; p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms",
        "",
        "process            CPU us per notification",
    ]
    per = result["cpu_us_per_notification"]
    lines += [f"{name:<18} {us:>10.1f}" for name, us in per.items()]
    lines += [
        f"{'all':<18} {sum(per.values()):>10.1f}   ({result['cores_busy']} cores busy)",
        "",
        f"ceiling  postgres_bulk_rows_per_s   {result['ceilings']['postgres_bulk_rows_per_s']}",
        f"ratio    batch_vs_postgres_bulk     {result['ratio_vs_postgres_bulk']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--to", action="store_true")
    args = parser.parse_args()
    outcome = asyncio.run(main(args.batches, args.to))
    print(table(outcome))
    print(f"\nwritten to {save('acceptance', outcome)}")
