"""The five services as processes on fresh databases, a vhost and a key prefix of
their own on the real servers: what both of the benchmark's harnesses load."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.processes import Services, on_servers, services
from tests.servers import drop_redis_prefix, pg_url, postgres_databases, rabbit_vhost, unique

SERVICES = ("gateway", "users", "templates", "email_worker", "push_worker")


@dataclass(frozen=True, slots=True)
class Bench:
    stack: Services
    amqp_url: str
    database: str  # each service's database is named from it
    folder: Path  # for logs and whatever else the run writes

    def database_url(self, service: str) -> str:
        return pg_url(f"{self.database}_{service}")


@asynccontextmanager
async def five_services(*, smtp_url: str, api_key: str, **env: str) -> AsyncIterator[Bench]:
    """Rate limits out of the way and logging at warning (docs/benchmarks.md), plus
    ``env``; everything made for the run is removed after it."""
    name, prefix = unique("herald_bench"), unique("herald_t")
    async with rabbit_vhost() as amqp, postgres_databases([f"{name}_{s}" for s in SERVICES]):
        values = on_servers(
            database_url=pg_url(name + "_{service}"),
            amqp_url=amqp,
            key_prefix=prefix,
            smtp_url=smtp_url,
            api_key=api_key,
            HERALD_RATE_LIMIT_PER_KEY="10000000/minute",
            HERALD_LOG_LEVEL="warning",
            **env,
        )
        with tempfile.TemporaryDirectory() as folder:
            async with services(values, Path(folder)) as stack:
                yield Bench(stack, amqp, name, Path(folder))
        await drop_redis_prefix(prefix)
