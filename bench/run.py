"""``make bench``: Herald's distributed setup on the real PostgreSQL, Redis and RabbitMQ
with a local SMTP sink, beside the raw speed of the same infrastructure in the same run.

    python -m bench.run [--rates 250,500,1000,2000] [--seconds 20] [--e2e 20000]
                        [--independent-seconds 30 | --no-independent]

Then, unless told not to, the same services under the independent harness
(bench/independent.py: wrk into Postfix's smtp-sink) with their own ceiling.

Prints a table and writes ``bench/results/bench-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.e2e.processes import (
    Process,
    Services,
    environment,
    notification,
)
from tests.integration.helpers import browser_subscription
from tests.pushserver import PushServer
from tests.smtp import free_port

from bench import ceilings, independent
from bench.http import Answer, LoadClient, Poster
from bench.load import open_loop
from bench.sink import SinkProcess
from bench.stack import five_services
from herald.devmode.secrets import generate_vapid_pem

API_KEY = "hk_bench_" + "k" * 40


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_SERVERS = {"postgres": "postgres", "beam.smp": "rabbitmq", "redis-server": "redis"}


def server_processes() -> dict[int, str]:
    """The servers' processes running now: pid to "postgres", "rabbitmq" or "redis"."""
    named: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            server = next((v for k, v in _SERVERS.items() if comm.startswith(k)), None)
            if server is not None:
                named[int(entry.name)] = server
    return named


def cpu_by_process(stack: Services, sink: SinkProcess) -> dict[tuple[str, int], float]:
    """CPU seconds used so far by each service, the sink and the servers' processes."""
    named = {p.popen.pid: name for name, p in stack.processes.items() if p.popen}
    if sink.pid is not None:
        named[sink.pid] = "smtp sink"
    named.update(server_processes())
    found: dict[tuple[str, int], float] = {}
    for pid, name in named.items():
        try:
            found[(name, pid)] = cpu_seconds(pid)
        except OSError:
            continue  # a process that ended meanwhile
    return found


def cpu_seconds_spent(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> dict[str, float]:
    """CPU seconds by process kind between two readings; only processes alive at both
    ends count (a server process that ended took its counters with it)."""
    spent: dict[str, float] = {}
    for key in before.keys() & after.keys():
        spent[key[0]] = spent.get(key[0], 0.0) + after[key] - before[key]
    return spent


def cpu_spent(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float], count: int
) -> dict[str, float]:
    """Milliseconds of CPU per notification by process kind."""
    spent = cpu_seconds_spent(before, after)
    return {name: round(seconds * 1000 / count, 2) for name, seconds in spent.items()}


def memory(stack: Services) -> dict[str, float]:
    found = {
        name: round(rss_mb(p.popen.pid), 1)
        for name, p in stack.processes.items()
        if p.popen is not None and p.popen.poll() is None  # a stopped one has none
    }
    found["total"] = round(sum(found.values()), 1)
    return found


async def end_to_end(
    client: Poster,
    count: int,
    body: Callable[[], dict[str, Any]],
    key: Callable[[dict[str, Any], Answer], str],
    arrivals: Callable[[], dict[str, float]],
    concurrency: int = 50,
) -> dict[str, float]:
    """``count`` notifications from POST to receipt at the local endpoint.

    ``key`` names a notification from its request and response, ``arrivals`` gives the
    receipt time of each key seen so far at the endpoint.
    """
    posted: dict[str, float] = {}
    gate = asyncio.Semaphore(concurrency)

    async def post() -> None:
        async with gate:
            sent_at = time.monotonic()
            request = body()
            try:
                response = await client.post("/api/v1/notifications/", request)
            except (OSError, asyncio.IncompleteReadError):
                return  # counted as not delivered
            if response.status_code == 202:
                posted[key(request, response)] = sent_at

    started = time.monotonic()
    await asyncio.gather(*(post() for _ in range(count)))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        seen = arrivals()
        if set(posted) <= set(seen):
            break
        await asyncio.sleep(0.05)
    finished = time.monotonic()
    latencies = sorted(seen[k] - sent for k, sent in posted.items() if k in seen)
    return {
        "notifications": count,
        "accepted": len(posted),
        "delivered": len(latencies),
        "per_s": round(len(latencies) / (finished - started), 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else -1,
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1) if latencies else -1,
    }


async def drained(sink: SinkProcess, expected: int) -> None:
    deadline = time.monotonic() + 600
    while sink.count < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # the status events of the last deliveries


def accepted_id(_: dict[str, Any], response: Answer) -> str:
    return str(response.json()["data"]["notification_id"])


def mail_arrivals(sink: SinkProcess) -> Callable[[], dict[str, float]]:
    return lambda: sink.arrivals


def push_arrivals(push: PushServer) -> Callable[[], dict[str, float]]:
    # Each push carries its notification's topic (metadata.topic) as the Topic header.
    def seen() -> dict[str, float]:
        found: dict[str, float] = {}
        for got in list(push.received):
            found.setdefault(got.headers.get("topic", ""), got.at)
        return found

    return seen


async def main(rates: list[float], seconds: float, e2e: int) -> dict[str, Any]:
    sink = SinkProcess(free_port())
    await sink.start()
    push = PushServer()  # a Web Push endpoint on loopback
    await push.start()
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        async with five_services(
            smtp_url=sink.url,
            api_key=API_KEY,
            HERALD_VAPID_PRIVATE_KEY=generate_vapid_pem(),
            HERALD_ALLOW_PRIVATE_TARGETS="true",
        ) as bench:
            stack, folder = bench.stack, str(bench.folder)
            await asyncio.sleep(2)
            result["memory_idle_mb"] = memory(stack)
            result["ceilings"] = {
                "postgres_insert_tx_per_s": round(
                    await ceilings.postgres_inserts(
                        bench.database_url("gateway").replace("+asyncpg", "")
                    ),
                    1,
                ),
                "rabbitmq_confirmed_round_trip_per_s": round(
                    await ceilings.rabbitmq_round_trip(bench.amqp_url), 1
                ),
                "smtp_messages_per_s": round(await ceilings.smtp_messages(sink.port), 1),
            }
            sink.clear()
            result["bare_asgi"] = [
                await ceilings.bare_asgi(free_port(), folder, rate, seconds) for rate in rates
            ]
            auth = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                base_url=stack.url("gateway"),
                headers=auth,
                timeout=30,
                limits=httpx.Limits(max_connections=500),
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

                async def accept() -> bool:
                    response = await load.post("/api/v1/notifications/", notification(user["id"]))
                    return response.status_code == 202

                outcomes = [await open_loop(accept, rate=rate, seconds=seconds) for rate in rates]
                result["gateway"] = [o.summary() for o in outcomes]
                # Every accepted notification arrives before the end-to-end run
                # starts, so that it does not queue behind this backlog.
                await drained(sink, sum(len(o.latencies) for o in outcomes))
                before = cpu_by_process(stack, sink)
                result["end_to_end_email"] = await end_to_end(
                    load,
                    e2e,
                    lambda: notification(user["id"]),
                    accepted_id,
                    mail_arrivals(sink),
                )
                after = cpu_by_process(stack, sink)
                # Where the machine's CPU went, per notification delivered.
                result["cpu_ms_per_email"] = cpu_spent(before, after, e2e)
                subscription, _, _ = browser_subscription(f"{push.url}/push/bench")
                device = await client.post(
                    f"/api/v1/users/{user['id']}/devices",
                    json={"kind": "webpush", "subscription": subscription},
                )
                assert device.status_code == 201, device.text
                result["end_to_end_push"] = await end_to_end(
                    load,
                    e2e,
                    lambda: notification(
                        user["id"],
                        notification_type="push",
                        metadata={"topic": uuid.uuid4().hex},
                    ),
                    lambda request, _: str(request["metadata"]["topic"]),
                    push_arrivals(push),
                )
                await load.close()
            result["memory_after_mb"] = memory(stack)
        result["dev"] = await dev_end_to_end(sink, e2e)
    finally:
        await sink.stop()
        await push.stop()
    return result


async def dev_end_to_end(sink: SinkProcess, count: int) -> dict[str, Any]:
    """``herald dev``, one process on its embedded defaults, sending to the same sink."""
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / ".herald"
        port = free_port()
        dev = Process(
            "dev",
            ["dev", "--port", str(port), "--home", str(home)],
            environment(
                {
                    "HERALD_SMTP_URL": sink.url,
                    "HERALD_RATE_LIMIT_PER_KEY": "10000000/minute",
                    "HERALD_RATE_LIMIT_PER_RECIPIENT": "10000000/minute",
                    "HERALD_LOG_LEVEL": "warning",
                }
            ),
            Path(folder) / "dev.log",
            port,
        )
        dev.start()
        try:
            await dev.wait_healthy(timeout=60)
            assert dev.popen is not None
            idle = rss_mb(dev.popen.pid)
            auth = {"Authorization": f"Bearer {(home / 'api_key').read_text().strip()}"}
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30
            ) as client:
                user = await client.post(
                    "/api/v1/users/",
                    json={"name": "Ada", "email": "ada@example.com", "password": "correct horse"},
                )
                assert user.status_code == 201, user.text
                load = LoadClient("127.0.0.1", port, headers=auth)
                e2e = await end_to_end(
                    load,
                    count,
                    lambda: notification(user.json()["data"]["id"]),
                    accepted_id,
                    mail_arrivals(sink),
                )
                await load.close()
            return {
                **e2e,
                "memory_idle_mb": round(idle, 1),
                "memory_after_mb": round(rss_mb(dev.popen.pid), 1),
            }
        finally:
            dev.stop()


def ratios(result: dict[str, Any]) -> dict[str, float]:
    ceiling = result["ceilings"]
    bound = min(ceiling.values())
    e2e = result["end_to_end_email"]["per_s"]
    push = result["end_to_end_push"]["per_s"]
    top_gateway = max(g["achieved_per_s"] for g in result["gateway"])
    top_bare = max(b["achieved_per_s"] for b in result["bare_asgi"])
    return {
        "end_to_end_vs_slowest_stage": round(e2e / bound, 3),
        "push_end_to_end_vs_rabbitmq": round(
            push / ceiling["rabbitmq_confirmed_round_trip_per_s"], 3
        ),
        # herald dev shares only the SMTP sink with the rest: its queue and database
        # are its own, embedded.
        "herald_dev_vs_smtp": round(result["dev"]["per_s"] / ceiling["smtp_messages_per_s"], 3),
        "gateway_vs_bare_asgi": round(top_gateway / top_bare, 3),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "stage                         offered   achieved   p50 ms   p95 ms   p99 ms"
        "    max ms   errors"
    ]
    for label, rows in (
        ("bare ASGI (uvicorn)", result["bare_asgi"]),
        ("gateway POST", result["gateway"]),
    ):
        for row in rows:
            lines.append(
                f"{label:<28} {row['offered_per_s']:>8.0f} {row['achieved_per_s']:>10.1f}"
                f" {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f}"
                f" {row['max_ms']:>9.1f} {row['errors']:>8}"
            )
    for label, e2e in (
        ("end to end, email", result["end_to_end_email"]),
        ("end to end, push", result["end_to_end_push"]),
        ("herald dev, email", result["dev"]),
    ):
        lines.append(
            f"{label:<28} {'-':>8} {e2e['per_s']:>10.1f} "
            f"{e2e['p50_ms']:>8.1f} {'-':>8} {e2e['p99_ms']:>8.1f} {'-':>9} "
            f"{e2e['notifications'] - e2e['delivered']:>8}"
        )
    lines.append("")
    for key, value in result["ceilings"].items():
        lines.append(f"ceiling  {key:<40} {value:>10.1f}")
    for key, value in result["ratios"].items():
        lines.append(f"ratio    {key:<40} {value:>10.3f}")
    lines.append(
        f"memory   idle {result['memory_idle_mb']['total']} MB, after "
        f"{result['memory_after_mb']['total']} MB (five services, RSS): "
        + ", ".join(
            f"{name} {mb} → {result['memory_after_mb'][name]}"
            for name, mb in result["memory_idle_mb"].items()
            if name != "total"
        )
    )
    lines.append(
        f"memory   herald dev idle {result['dev']['memory_idle_mb']} MB, after "
        f"{result['dev']['memory_after_mb']} MB (one process, RSS)"
    )
    other = result.get("independent", {})
    if "skipped" in other:
        lines.append(f"harness  independent (wrk + smtp-sink) skipped: {other['skipped']}")
    elif other:
        accept = other["accept"]
        lines.append(
            f"harness  {other['harness']}: accepted {accept['requests_per_s']:.1f}/s"
            f" (p50 {accept['p50']}, p99 {accept['p99']}, {accept['non_2xx']} non-2xx),"
            f" end to end {other['end_to_end_per_s']}/s of {other['accepted']};"
            f" smtp-source ceiling {other['smtp_source_ceiling_per_s']}/s,"
            f" ratio {other['end_to_end_vs_smtp_source']}"
        )
        lines.append(
            "harness  python harness end to end "
            f"{result['end_to_end_email']['per_s']}/s (ratio "
            f"{result['ratios']['end_to_end_vs_slowest_stage']} to its slowest stage);"
            f" independent / python: "
            f"{other['end_to_end_per_s'] / result['end_to_end_email']['per_s']:.2f}"
        )
    spent = result["cpu_ms_per_email"]
    lines.append(
        f"cpu      {sum(spent.values()):.2f} ms per email end to end: "
        + ", ".join(f"{name} {ms:.2f}" for name, ms in sorted(spent.items(), key=lambda i: -i[1]))
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="250,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--e2e", type=int, default=20000)
    parser.add_argument("--independent-seconds", type=float, default=30.0)
    parser.add_argument("--no-independent", action="store_true")
    args = parser.parse_args()
    outcome = asyncio.run(main([float(r) for r in args.rates.split(",")], args.seconds, args.e2e))
    outcome["ratios"] = ratios(outcome)
    missing = independent.available()
    if args.no_independent or missing:
        outcome["independent"] = {"skipped": "--no-independent" if args.no_independent else missing}
    else:
        outcome["independent"] = asyncio.run(independent.run(API_KEY, args.independent_seconds))
    print(table(outcome))
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"bench-{outcome['when'].replace(':', '')}.json"
    path.write_text(json.dumps(outcome, indent=2))
    print(f"\nwritten to {path}")
