"""Herald's services as separate OS processes, the way the Compose stack runs them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.servers import REDIS, drop_redis_prefix, need, pg_url, postgres_databases, unique
from tests.smtp import free_port


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "herald", *self.args],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=20)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    async def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                if self.popen is not None and self.popen.poll() is not None:
                    raise AssertionError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
                try:
                    if (
                        await client.get(f"http://127.0.0.1:{self.port}/health")
                    ).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(
                        f"{self.name} not healthy:\n{self.log.read_text()[-3000:]}"
                    )
                await asyncio.sleep(0.2)


@dataclass
class Services:
    processes: dict[str, Process] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Process:
        return self.processes[name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.processes[name].port}"


COMMANDS = {
    "users": ["serve", "users"],
    "templates": ["serve", "templates"],
    "gateway": ["serve", "gateway"],
    # A second gateway on the same database, broker and cache: a replica.
    "gateway_2": ["serve", "gateway"],
    "users_2": ["serve", "users"],
    "templates_2": ["serve", "templates"],
    "email_worker_2": ["worker", "email"],
    "email_worker": ["worker", "email"],
    "push_worker": ["worker", "push"],
    "push_worker_2": ["worker", "push"],
    "webhook_worker": ["worker", "webhooks"],
    "sms_worker": ["worker", "sms"],
    "chat_worker": ["worker", "chat"],
    "in_app_worker": ["worker", "in_app"],
    "in_app_worker_2": ["worker", "in_app"],
    "webhook_worker_2": ["worker", "webhooks"],
}


ONE_OF_EACH = ("users", "templates", "gateway", "email_worker", "push_worker")


def on_servers(
    *, database_url: str, amqp_url: str, key_prefix: str, smtp_url: str, api_key: str, **extra: str
) -> dict[str, str]:
    """The environment of Herald's processes on the test's own database, vhost, Redis
    prefix and SMTP server, with rate limits out of the way of load."""
    return {
        "HERALD_DATABASE_URL": database_url,
        "HERALD_BROKER_URL": amqp_url,
        "HERALD_REDIS_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0",
        "HERALD_KEY_PREFIX": key_prefix,
        "HERALD_SMTP_URL": smtp_url,
        "HERALD_JWT_SECRET": "processes-secret-" + "s" * 40,
        "HERALD_BOOTSTRAP_API_KEY": api_key,
        "HERALD_RATE_LIMIT_PER_RECIPIENT": "10000000/minute",
        **extra,
    }


def notification(user_id: str, **overrides: Any) -> dict[str, Any]:
    """A welcome email request for ``user_id``, with a fresh request id."""
    body: dict[str, Any] = {
        "notification_type": "email",
        "user_id": user_id,
        "template_code": "welcome",
        "variables": {"name": "Ada", "link": "https://example.com"},
        "request_id": uuid.uuid4().hex,
    }
    body.update(overrides)
    return body


def environment(values: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(values)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def migrate(env: Mapping[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "herald", "migrate"],
        env=dict(env),
        check=True,
        capture_output=True,
        timeout=120,
    )


@asynccontextmanager
async def services(
    values: Mapping[str, str],
    logs: Path,
    names: tuple[str, ...] = ONE_OF_EACH,
    ports: Mapping[str, int] | None = None,
) -> AsyncIterator[Services]:
    """``ports``: where each service listens, when the test chose them (to put a
    balancer in front of replicas, whose address ``values`` then gives)."""
    ports = ports or {name: free_port() for name in COMMANDS}
    base = environment(
        {
            "HERALD_USERS_URL": f"http://127.0.0.1:{ports['users']}",
            "HERALD_TEMPLATES_URL": f"http://127.0.0.1:{ports['templates']}",
            "HERALD_PUBLIC_URL": f"http://127.0.0.1:{ports['gateway']}",
            **values,
        }
    )
    await asyncio.to_thread(migrate, base)
    running = Services()
    try:
        for name in names:
            process = Process(
                name,
                [*COMMANDS[name], "--host", "127.0.0.1", "--port", str(ports[name])],
                base,
                logs / f"{name}.log",
                ports[name],
            )
            running.processes[name] = process
            process.start()
        for process in running.processes.values():
            await process.wait_healthy()
        yield running
    finally:
        # Off the event loop: a test's proxies between the services and their servers
        # run on it, and the services need them to shut down cleanly.
        await asyncio.gather(
            *(asyncio.to_thread(process.stop) for process in running.processes.values())
        )


@asynccontextmanager
async def own_stack(
    amqp_url: str,
    logs: Path,
    names: tuple[str, ...],
    *,
    api_key: str,
    smtp_url: str = "smtp://127.0.0.1:1",
    **extra: str,
) -> AsyncIterator[tuple[Services, str]]:
    """``names`` running on one database of their own (its name given with them), a
    Redis prefix and the test's vhost; all removed afterwards."""
    need("Redis", REDIS)
    name, prefix = unique("herald_e2e"), unique("herald_t")
    async with postgres_databases([name], migrated=True):
        values = on_servers(
            database_url=pg_url(name),
            amqp_url=amqp_url,
            key_prefix=prefix,
            smtp_url=smtp_url,
            api_key=api_key,
            **extra,
        )
        async with services(values, logs, names) as running:
            yield running, name
        await drop_redis_prefix(prefix)


async def create_user(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, Any]:
    """A user to send to, through the API."""
    created = await client.post(
        "/api/v1/users/", json={"name": "Ada", "email": email, "password": "correct horse"}
    )
    assert created.status_code == 201, created.text
    data: dict[str, Any] = created.json()["data"]
    return data
