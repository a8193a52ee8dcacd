"""End-to-end email with one and with two replicas of the gateway and the email worker
(users and templates once each), on the real servers, into the lean SMTP sink; the
load alternates between the gateways. Reports emails/s and the CPU each kind of
process spent per email, beside the sink's ceiling measured in the same run: on two
cores a second replica adds no capacity, but the CPU per email must not grow.

``.venv/bin/python -m bench.replicas [--emails 6000] [--rounds 2]``. Prints a table and
writes ``bench/results/replicas-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.e2e.processes import create_user, notification, on_servers, services
from tests.servers import drop_redis_prefix, pg_url, postgres_databases, rabbit_vhost, unique
from tests.smtp import free_port

from bench import ceilings
from bench.http import Answer, LoadClient
from bench.report import save
from bench.run import accepted_id, cpu_by_process, cpu_spent, end_to_end, mail_arrivals
from bench.sink import SinkProcess

API_KEY = "hk_bench_replicas_" + "k" * 40
HERALD = ("gateway", "email_worker", "users", "templates")


class Alternating:
    """Posts to each gateway in turn, as a load balancer spreads requests."""

    def __init__(self, clients: list[LoadClient]) -> None:
        self._clients = clients
        self._turn = 0

    async def post(self, path: str, payload: Any) -> Answer:
        client = self._clients[self._turn % len(self._clients)]
        self._turn += 1
        return await client.post(path, payload)

    async def close(self) -> None:
        for client in self._clients:
            await client.close()


def by_kind(per_process: dict[str, float]) -> dict[str, float]:
    """gateway and gateway_2 as one "gateway", and so on."""
    kinds: dict[str, float] = {}
    for name, ms in per_process.items():
        kind = name.removesuffix("_2")
        kinds[kind] = round(kinds.get(kind, 0.0) + ms, 2)
    return kinds


async def one_run(replicas: int, emails: int, sink: SinkProcess) -> dict[str, Any]:
    names = ("users", "templates", "gateway", "email_worker")
    if replicas == 2:
        names += ("gateway_2", "email_worker_2")
    gateways = [n for n in names if n.startswith("gateway")]
    database, prefix = unique("herald_bench"), unique("herald_t")
    auth = {"Authorization": f"Bearer {API_KEY}"}
    async with rabbit_vhost() as amqp, postgres_databases([database], migrated=True):
        values = on_servers(
            database_url=pg_url(database),
            amqp_url=amqp,
            key_prefix=prefix,
            smtp_url=sink.url,
            api_key=API_KEY,
            HERALD_RATE_LIMIT_PER_KEY="10000000/minute",
            HERALD_LOG_LEVEL="warning",
        )
        with tempfile.TemporaryDirectory() as folder:
            async with services(values, Path(folder), names) as stack:
                async with httpx.AsyncClient(base_url=stack.url("gateway"), headers=auth) as api:
                    user = (await create_user(api))["id"]
                await asyncio.sleep(2)
                smtp_ceiling = await ceilings.smtp_messages(sink.port)
                sink.clear()
                load = Alternating(
                    [LoadClient.for_url(stack.url(g), headers=auth) for g in gateways]
                )
                # A first thousand warms every process up (imports, pools, caches).
                await end_to_end(
                    load, 1000, lambda: notification(user), accepted_id, mail_arrivals(sink)
                )
                sink.clear()
                before = cpu_by_process(stack, sink)
                outcome = await end_to_end(
                    load, emails, lambda: notification(user), accepted_id, mail_arrivals(sink)
                )
                await asyncio.sleep(1)  # the last status events
                after = cpu_by_process(stack, sink)
                await load.close()
    await drop_redis_prefix(prefix)
    cpu = by_kind(cpu_spent(before, after, max(outcome["delivered"], 1)))
    herald = sum(
        v for k, v in cpu.items() if k in ("gateway", "email_worker", "users", "templates")
    )
    return {
        "replicas": replicas,
        "emails_per_s": outcome["per_s"],
        "delivered": outcome["delivered"],
        "accepted": outcome["accepted"],
        "p99_ms": outcome["p99_ms"],
        "cpu_ms_per_email": cpu,
        "herald_cpu_ms_per_email": round(herald, 2),
        "all_cpu_ms_per_email": round(sum(cpu.values()), 2),
        "smtp_ceiling_per_s": round(smtp_ceiling, 1),
    }


async def main(emails: int, rounds: int) -> dict[str, Any]:
    sink = SinkProcess(free_port())
    await sink.start()
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    runs = []
    try:
        for _ in range(rounds):  # alternated, so that a slow moment of the machine is seen
            for replicas in (1, 2):
                runs.append(await one_run(replicas, emails, sink))
    finally:
        await sink.stop()
    result["runs"] = runs
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        "replicas  emails/s  p99 ms   Herald ms CPU/email  all ms CPU/email  by process",
    ]
    for run in result["runs"]:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(run["cpu_ms_per_email"].items()))
        lines.append(
            f"{run['replicas']:>8} {run['emails_per_s']:>9.1f} {run['p99_ms']:>7.0f}"
            f" {run['herald_cpu_ms_per_email']:>20.2f} {run['all_cpu_ms_per_email']:>17.2f}  "
            f"{detail}; SMTP ceiling {run['smtp_ceiling_per_s']:.0f}/s"
        )
    return "\n".join(lines)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emails", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result = asyncio.run(main(args.emails, args.rounds))
    print(table(result))
    print(f"written to {save('replicas', result)}")


if __name__ == "__main__":
    cli()
