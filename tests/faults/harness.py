"""The distributed setup under steady load, with its network to PostgreSQL, Redis and
RabbitMQ running through proxies the test can cut, and an SMTP sink it can stop.

A scenario sends notifications on a fixed schedule (open loop: a request is sent on
time whether or not earlier ones have answered), applies its fault in the middle,
waits until every accepted notification is in a final status, and counts accepted,
delivered, failed, lost and duplicated notifications.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bench.load import open_loop

from tests.e2e.processes import COMMANDS, Services, notification, on_servers, services
from tests.pushserver import PushServer
from tests.servers import (
    AMQP,
    PG,
    REDIS,
    drop_redis_prefix,
    need,
    postgres_databases,
    rabbit_vhost,
    unique,
)
from tests.smtp import SmtpServer, free_port
from tests.tcpproxy import TcpBalancer, TcpProxy

API_KEY = "hk_faults_" + "k" * 40
JWT_SECRET = "faults-jwt-secret-" + "j" * 40
PG_PASSWORD = "pg-password-never-logged"  # trust auth ignores it; it must not leak either
USER_PASSWORD = "user-password-never-logged"
SECRETS = (API_KEY, JWT_SECRET, PG_PASSWORD, USER_PASSWORD)
FINAL = {"delivered", "failed"}
NAMES = ("users", "templates", "gateway", "email_worker")
# Two of each: the services behind balancers (as behind a Kubernetes Service), the
# workers competing for one queue.
REPLICATED = ("users", "users_2", "templates", "templates_2", "gateway", "gateway_2")
REPLICATED += ("email_worker", "email_worker_2", "in_app_worker", "in_app_worker_2")
REPLICATED += ("push_worker", "push_worker_2", "webhook_worker", "webhook_worker_2")
# A balancer in front of each service's replicas: (what callers set, the replicas).
BALANCED = {
    "HERALD_USERS_URL": ("users", "users_2"),
    "HERALD_TEMPLATES_URL": ("templates", "templates_2"),
    "HERALD_PUBLIC_URL": ("gateway", "gateway_2"),
}
RESULTS = Path(__file__).resolve().parents[2] / "build" / "faults.json"


@dataclass
class Faulty:
    """The running services and the handles on what a scenario can break."""

    services: Services
    smtp: SmtpServer
    postgres: TcpProxy
    redis: TcpProxy
    rabbitmq: TcpProxy
    logs: Path
    client: httpx.AsyncClient
    user_id: str = ""
    # Where the user's Web Push device points, when a scenario gives it one.
    pushes: PushServer | None = None

    async def in_feeds(self) -> Counter[str]:
        """How many feed items each in-app notification made: its delivery."""
        found: Counter[str] = Counter()
        page = 1
        while True:
            answer = await self.client.get(
                f"/api/v1/users/{self.user_id}/feed", params={"page": page, "limit": 100}
            )
            items = answer.json()["data"] if answer.status_code == 200 else []
            found.update(item["id"] for item in items)
            if len(items) < 100:
                return found
            page += 1

    def pushed(self, load: Load) -> Counter[str]:
        """How many pushes of each notification reached the push service: each names
        its request by its Topic header."""
        assert self.pushes is not None
        notification_of = {request: nid for nid, request in load.requests.items()}
        return Counter(
            notification_of[h.headers["topic"]]
            for h in self.pushes.received
            if h.headers.get("topic") in notification_of
        )

    def leaked(self) -> list[str]:
        """Secrets found in any service's log."""
        found = []
        logs = list(self.logs.glob("*.log"))
        assert len(logs) == len(self.services.processes), logs
        assert all(log.stat().st_size for log in logs), logs
        for log in logs:
            text = log.read_text(errors="replace")
            found += [f"{log.name}: {secret[:12]}…" for secret in SECRETS if secret in text]
        return found


@asynccontextmanager
async def faulty(logs: Path, *, replicas: bool = False, **extra: str) -> AsyncIterator[Faulty]:
    """``replicas``: two of every service, the test's client and the gateways calling
    users and templates through balancers."""
    need("Redis", REDIS)
    name, prefix = unique("herald_f"), unique("herald_f")
    proxies = {
        "postgres": TcpProxy(*PG),
        "redis": TcpProxy(*REDIS),
    }
    smtp = SmtpServer()
    smtp.start()
    async with rabbit_vhost() as amqp_url, postgres_databases([name], migrated=True):
        proxies["rabbitmq"] = TcpProxy(*AMQP)
        for proxy in proxies.values():
            await proxy.start()
        vhost = amqp_url.rsplit("/", 1)[1]
        values = on_servers(
            database_url=(
                f"postgresql+asyncpg://postgres:{PG_PASSWORD}@127.0.0.1:"
                f"{proxies['postgres'].port}/{name}"
            ),
            amqp_url=f"amqp://guest:guest@127.0.0.1:{proxies['rabbitmq'].port}/{vhost}",
            key_prefix=prefix,
            smtp_url=smtp.url,
            api_key=API_KEY,
            HERALD_REDIS_URL=f"redis://127.0.0.1:{proxies['redis'].port}/0",
            HERALD_JWT_SECRET=JWT_SECRET,
            # Retries fast enough that a 15 s outage fits in a test, and a breaker that
            # probes again after 2 s.
            HERALD_RETRY_BASE_DELAY="0.5",
            HERALD_RETRY_MAX_DELAY="2",
            HERALD_RETRY_MAX_ATTEMPTS="30",
            HERALD_BREAKER_RESET_SECONDS="2",
            **extra,
        )
        ports = {name: free_port() for name in COMMANDS}
        balancers = []
        if replicas:
            for setting, names in BALANCED.items():
                balancer = TcpBalancer([("127.0.0.1", ports[n]) for n in names])
                await balancer.start()
                balancers.append(balancer)
                values[setting] = f"http://127.0.0.1:{balancer.port}"
        front = values.get("HERALD_PUBLIC_URL", f"http://127.0.0.1:{ports['gateway']}")
        try:
            async with (
                services(values, logs, REPLICATED if replicas else NAMES, ports) as running,
                httpx.AsyncClient(
                    base_url=front,
                    headers={"Authorization": f"Bearer {API_KEY}"},
                    timeout=10,
                ) as client,
            ):
                stack = Faulty(running, smtp, logs=logs, client=client, **proxies)
                user = await client.post(
                    "/api/v1/users/",
                    json={"name": "Ada", "email": "ada@example.com", "password": USER_PASSWORD},
                )
                assert user.status_code == 201, user.text
                stack.user_id = user.json()["data"]["id"]
                login = await client.post(
                    "/api/v1/auth/login",
                    json={"email": "ada@example.com", "password": USER_PASSWORD},
                )
                assert login.status_code == 200, login.text
                wrong = await client.post(
                    "/api/v1/auth/login",
                    json={"email": "ada@example.com", "password": "not-" + USER_PASSWORD},
                )
                assert wrong.status_code == 401, wrong.text
                yield stack
        finally:
            for proxy in [*proxies.values(), *balancers]:
                await proxy.stop()
            smtp.stop()
            await drop_redis_prefix(prefix)


@dataclass
class Load:
    """Open-loop POSTs of welcome notifications at ``rate`` per second: emails, or
    each of ``kinds`` in turn."""

    stack: Faulty
    rate: float
    kinds: tuple[str, ...] = ("email",)
    # Each accepted notification's id and its request id, in the order accepted.
    requests: dict[str, str] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)
    slowest_refusal: float = 0.0
    _sent: int = 0

    @property
    def accepted(self) -> list[str]:
        return list(self.requests)

    async def run(self, seconds: float) -> None:
        await open_loop(self.one, rate=self.rate, seconds=seconds)

    async def one(self) -> bool:
        began = time.monotonic()
        kind = self.kinds[self._sent % len(self.kinds)]
        self._sent += 1
        body = notification(self.stack.user_id, notification_type=kind)
        if kind == "push":
            body["metadata"] = {"topic": body["request_id"]}  # the push's Topic header
        try:
            response = await self.stack.client.post("/api/v1/notifications/", json=body)
        except httpx.HTTPError as exc:
            self.refused[type(exc).__name__] += 1
            return False
        if response.status_code == 202:
            self.requests[response.json()["data"]["notification_id"]] = body["request_id"]
            return True
        self.refused[str(response.status_code)] += 1
        self.slowest_refusal = max(self.slowest_refusal, time.monotonic() - began)
        return False


@dataclass
class Row:
    scenario: str
    accepted: int
    refused: dict[str, int]
    delivered: int
    failed: int
    lost: int
    duplicates: int
    not_final: int
    retried: int
    seconds_to_drain: float


async def statuses(client: httpx.AsyncClient, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 25):
        batch = ids[start : start + 25]
        replies = await asyncio.gather(
            *(client.get(f"/api/v1/notifications/{nid}") for nid in batch),
            return_exceptions=True,
        )
        for nid, reply in zip(batch, replies, strict=True):
            if isinstance(reply, httpx.Response) and reply.status_code == 200:
                found[nid] = reply.json()["data"]
            else:  # shown for what is not final at the end
                found[nid] = {"status": None, "read": repr(reply)[:300]}
    return found


async def tally(scenario: str, stack: Faulty, load: Load, timeout: float = 120) -> Row:
    """Wait until every accepted notification is final, then count."""
    began = time.monotonic()
    while True:
        found = await statuses(stack.client, load.accepted)
        received = Counter(m["X-Herald-Notification-Id"] for m in stack.smtp.received)
        if "in_app" in load.kinds:
            received += await stack.in_feeds()
        if "push" in load.kinds:
            received += stack.pushed(load)
        status = {nid: body["status"] for nid, body in found.items() if body["status"]}
        final = [nid for nid in load.accepted if status.get(nid) in FINAL]
        arrived = all(received[nid] for nid in final if status[nid] == "delivered")
        if (len(final) == len(load.accepted) and arrived) or time.monotonic() - began > timeout:
            break
        await asyncio.sleep(1)
    accepted = set(load.accepted)
    failed = {nid for nid in accepted if status.get(nid) == "failed"}
    delivered = {nid for nid in accepted if received[nid]}
    row = Row(
        scenario=scenario,
        accepted=len(accepted),
        refused=dict(load.refused),
        delivered=len(delivered),
        failed=len(failed),
        lost=len(accepted - delivered - failed),
        duplicates=sum(received[nid] - 1 for nid in delivered),
        not_final=len(accepted) - len(final),
        retried=sum(1 for body in found.values() if (body.get("attempts") or 0) > 1),
        seconds_to_drain=round(time.monotonic() - began, 1),
    )
    record(row)
    for nid in [n for n in load.accepted if status.get(n) not in FINAL][:5]:
        print(f"not final: {nid} {found.get(nid)}")  # what a failing scenario shows
    return row


def record(row: Row) -> None:
    """Add ``row`` to this run's results (tests/faults/conftest.py starts a fresh file)."""
    RESULTS.parent.mkdir(exist_ok=True)
    rows: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rows[row.scenario] = asdict(row)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f"\n{row}")


async def during(load: Load, seconds: float, fault: Any, *, after: float = 3.0) -> None:
    """Run the load for ``seconds``; ``fault`` (a coroutine function) starts ``after`` in."""

    async def later() -> None:
        await asyncio.sleep(after)
        await fault()

    await asyncio.gather(load.run(seconds), later())
