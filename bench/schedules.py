"""Scheduling on Herald's distributed setup, beside the raw speed of the same
PostgreSQL in the same run: 100,000 notifications scheduled for the same second,
and how long after it they are all pending; and what the scheduler costs when there
is nothing to do.

    python -m bench.schedules [--count 100000] [--idle-seconds 30]

Prints a table and writes ``bench/results/schedules-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from tests.e2e.processes import notification
from tests.smtp import free_port

from bench import ceilings
from bench.http import LoadClient
from bench.report import ceiling_lines, save
from bench.run import cpu_by_process, cpu_seconds, cpu_seconds_spent, memory, server_processes
from bench.sink import SinkProcess
from bench.stack import five_services
from herald.adapters.db.engine import create_engine
from herald.bootstrap import make_gateway_store
from herald.domain.clock import SystemClock
from herald.services.gateway.scheduler import Scheduler

API_KEY = "hk_bench_" + "k" * 40
BATCH = 1000


async def schedule_all(
    load: LoadClient, user_id: str, count: int, due: datetime, clients: int = 2
) -> float:
    """``count`` notifications due at ``due``, in batches of 1,000; seconds it took."""
    left = list(range(count // BATCH))

    async def client() -> None:
        while left:
            left.pop()
            items = [notification(user_id, send_at=due.isoformat()) for _ in range(BATCH)]
            answer = await load.post("/api/v1/notifications/batch", {"notifications": items})
            assert answer.status_code == 207, answer.body[:300]
            codes = {r["status_code"] for r in answer.json()["data"]}
            assert codes == {202}, codes

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started


async def released(dsn: str, due: datetime, count: int) -> dict[str, Any]:
    """Wait until none of them is scheduled any more; when each became pending,
    measured from ``due``, by the history the gateway wrote."""
    conn = await asyncpg.connect(dsn)
    try:
        waiting = "SELECT count(*) FROM notifications WHERE status = 'scheduled' AND send_at = $1"
        while await conn.fetchval(waiting, due):
            await asyncio.sleep(0.1)
        row = await conn.fetchrow(
            """
            SELECT count(*) AS n, min("timestamp") AS first,
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY "timestamp") AS p50,
                   percentile_disc(0.99) WITHIN GROUP (ORDER BY "timestamp") AS p99,
                   max("timestamp") AS last
            FROM notification_events e JOIN notifications n ON n.id = e.notification_id
            WHERE e.status = 'pending' AND n.send_at = $1
            """,
            due,
        )
    finally:
        await conn.close()
    assert row["n"] == count, f"{row['n']} of {count} released"
    return {
        "released": row["n"],
        **{
            f"{name}_after_due_s": round((row[name] - due).total_seconds(), 3)
            for name in ("first", "p50", "p99", "last")
        },
    }


async def delivered_by(dsn: str, due: datetime, seconds: float) -> int:
    """How many of them were delivered ``seconds`` after ``due``: what giving the
    release priority costs delivery, if anything."""
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() + seconds))
    conn = await asyncpg.connect(dsn)
    try:
        found = "SELECT count(*) FROM notifications WHERE status = 'delivered' AND send_at = $1"
        return int(await conn.fetchval(found, due))
    finally:
        await conn.close()


def cpu_percent(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float], seconds: float
) -> dict[str, float]:
    spent = cpu_seconds_spent(before, after)
    return {name: round(100 * s / seconds, 2) for name, s in sorted(spent.items())}


async def look_cost(database_url: str, looks: int = 500) -> dict[str, float]:
    """CPU one idle look of the scheduler costs (its two claims that find nothing, and
    the read of the next due time), in this process and in PostgreSQL, measured over
    ``looks`` of them; and what that makes at one look per idle period."""
    engine = create_engine(database_url)
    store = make_gateway_store(engine)
    scheduler = Scheduler(store, SystemClock(), on_queued=lambda: None, on_topics=lambda: None)
    try:
        await scheduler.step()  # connections opened, statements prepared
        before, servers = time.process_time(), _postgres_cpu()
        for _ in range(looks):
            await scheduler.step()
            await store.next_due()
        client_ms = (time.process_time() - before) * 1000 / looks
        server_ms = (_postgres_cpu() - servers) * 1000 / looks
    finally:
        await engine.dispose()
    per_second = 1 / Scheduler.IDLE_SECONDS
    return {
        "client_ms_per_look": round(client_ms, 3),
        "postgres_ms_per_look": round(server_ms, 3),
        "looks_per_s": per_second,
        "percent_of_a_core": round((client_ms + server_ms) * per_second / 10, 3),
    }


def _postgres_cpu() -> float:
    total = 0.0
    for pid, server in server_processes().items():
        if server == "postgres":
            with contextlib.suppress(OSError):  # a process that ended meanwhile
                total += cpu_seconds(pid)
    return total


async def main(count: int, idle_seconds: float, workers: bool) -> dict[str, Any]:
    sink = SinkProcess(free_port())
    await sink.start()
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        async with five_services(smtp_url=sink.url, api_key=API_KEY) as bench:
            stack = bench.stack
            gateway_dsn = bench.database_url("gateway").replace("+asyncpg", "")
            await asyncio.sleep(5)  # past the start's own work
            # Idle: nothing due, nothing sent. Every process and server, so that what
            # the scheduler's polls cost PostgreSQL counts too.
            before = cpu_by_process(stack, sink)
            await asyncio.sleep(idle_seconds)
            result["idle_cpu_percent_of_a_core"] = cpu_percent(
                before, cpu_by_process(stack, sink), idle_seconds
            )
            result["scheduler_idle_look"] = await look_cost(bench.database_url("gateway"))
            result["ceilings"] = {
                "postgres_bulk_rows_per_s": round(
                    await ceilings.postgres_bulk_inserts(gateway_dsn), 1
                ),
            }
            auth = {"Authorization": f"Bearer {API_KEY}"}
            load = LoadClient.for_url(stack.url("gateway"), headers=auth)
            user = (
                await load.post(
                    "/api/v1/users/",
                    {"name": "Ada", "email": "ada@example.com", "password": "correct horse"},
                )
            ).json()["data"]
            # How fast batches are accepted here, to pick a second they all fit before.
            probe = await schedule_all(
                load, user["id"], BATCH, datetime.now(UTC) + timedelta(days=1)
            )
            due = datetime.now(UTC).replace(microsecond=0) + timedelta(
                seconds=int(probe * count / BATCH * 1.5) + 10
            )
            accepting = await schedule_all(load, user["id"], count, due)
            await load.close()
            if not workers:  # the release alone, with nothing delivering beside it
                for name in ("email_worker", "push_worker"):
                    stack[name].stop()
            result["workers_running"] = workers
            result["accepted_s"] = round(accepting, 1)
            result["accepted_before_due_s"] = round((due - datetime.now(UTC)).total_seconds(), 1)
            assert datetime.now(UTC) < due, "accepting took past the due second"
            result["scheduled_for_one_second"] = count
            result["release"], result["delivered_10s_after_due"] = await asyncio.gather(
                released(gateway_dsn, due, count), delivered_by(gateway_dsn, due, 10.0)
            )
            result["memory_after_mb"] = memory(stack)
    finally:
        await sink.stop()
    release = result["release"]
    release_s = max(release["last_after_due_s"], 0.001)
    result["release"]["released_per_s"] = round(count / release_s, 1)
    result["ratios"] = {
        "release_vs_postgres_bulk": round(
            result["release"]["released_per_s"] / result["ceilings"]["postgres_bulk_rows_per_s"],
            3,
        )
    }
    return result


def table(result: dict[str, Any]) -> str:
    r = result["release"]
    look = result["scheduler_idle_look"]
    lines = [
        f"{result['scheduled_for_one_second']} notifications scheduled for one second"
        f" (accepted in {result['accepted_s']} s, {result['accepted_before_due_s']} s before it;"
        f" workers {'delivering' if result['workers_running'] else 'stopped'})",
        "pending after the due second (s):   first    p50    p99   last",
        f"{'':<34}{r['first_after_due_s']:>6.2f} {r['p50_after_due_s']:>6.2f}"
        f" {r['p99_after_due_s']:>6.2f} {r['last_after_due_s']:>6.2f}"
        f"   ({r['released_per_s']}/s)",
        f"delivered 10 s after the due second: {result['delivered_10s_after_due']}",
        "",
        "idle CPU, % of one core: "
        + ", ".join(f"{k} {v}" for k, v in result["idle_cpu_percent_of_a_core"].items()),
        f"scheduler idle look: {look['client_ms_per_look']} ms in the gateway +"
        f" {look['postgres_ms_per_look']} ms in PostgreSQL, {look['looks_per_s']} a second:"
        f" {look['percent_of_a_core']} % of a core",
        "",
        *ceiling_lines(result),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument(
        "--workers-stopped",
        action="store_true",
        help="stop the workers before the due second: the release without delivery beside it",
    )
    args = parser.parse_args()
    outcome = asyncio.run(main(args.count, args.idle_seconds, not args.workers_stopped))
    print(table(outcome))
    print(f"\nwritten to {save('schedules', outcome)}")
