"""Webhook delivery rate, beside bare HTTP clients posting to the same receiver in the
same run: ``count`` events waiting in the gateway's database (as status changes leave
them), one endpoint at a lean local receiver, and ``herald worker webhooks`` started
to deliver them all.

    python -m bench.webhooks [--count 20000]

Prints a table and writes ``bench/results/webhooks-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from tests.e2e.processes import Process, environment
from tests.servers import pg_url, postgres_databases, unique
from tests.smtp import free_port

from bench.report import ceiling_lines, save
from bench.run import cpu_seconds, rss_mb
from herald.bootstrap import migrate
from herald.config import Settings
from herald.domain import webhooks

BODY = json.dumps(
    {
        "type": "notification.delivered",
        "timestamp": "2026-12-02T03:00:00+00:00",
        "data": {"notification_id": str(uuid.uuid4()), "status": "delivered", "attempts": 1},
    }
).encode()


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(self.port)])
        for _ in range(100):
            try:
                await self.count()
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
        raise RuntimeError("the receiver did not start")

    async def count(self) -> tuple[int, int]:
        """Requests with a webhook-id so far, and distinct ids among them."""
        async with httpx.AsyncClient() as client:
            hooks, ids = (await client.get(f"http://127.0.0.1:{self.port}/count")).text.split()
        return int(hooks), int(ids)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def headers(n: int) -> dict[str, str]:
    at = int(time.time())
    message_id = f"msg_bench{n}"
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(at),
        "webhook-signature": webhooks.signature(secret, message_id, at, BODY),
    }


async def bare_httpx(url: str, count: int, concurrency: int) -> float:
    """Posts per second from httpx, ``concurrency`` at a time: Herald's own HTTP client
    doing nothing else."""
    left = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # Nagle's algorithm off, or each body waits for the headers' delayed acknowledgement.
    transport = httpx.AsyncHTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    )
    async with httpx.AsyncClient(limits=limits, transport=transport) as client:

        async def poster() -> None:
            for n in left:
                answer = await client.post(url, content=BODY, headers=headers(n))
                assert answer.status_code == 204

        started = time.perf_counter()
        await asyncio.gather(*(poster() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


async def bare_asyncio(port: int, count: int, concurrency: int) -> float:
    """Posts per second from the leanest Python client: one write per request on kept
    connections, reading only the answer's head (what Herald's client does, without
    the signing, the database and the bookkeeping)."""
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    left = iter(range(count))

    async def poster(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for n in left:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers(n).items())
            writer.write(
                f"POST /hook HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(BODY)}\r\n"
                f"{head}\r\n".encode()
                + BODY
            )
            answer = await reader.readuntil(b"\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 204")

    started = time.perf_counter()
    await asyncio.gather(*(poster(r, w) for r, w in connections))
    elapsed = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return count / elapsed


def bare_wrk(url: str, seconds: int, connections: int, folder: Path) -> float | None:
    """Posts per second from wrk (C) to the same receiver, or None without wrk."""
    if shutil.which("wrk") is None:
        return None
    script = folder / "hook.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(BODY.decode())}\n"
        'wrk.headers["content-type"] = "application/json"\n'
        'wrk.headers["webhook-id"] = "msg_wrk"\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else None


# The events as a committed status change leaves them: one row each, about a
# notification stored beside it.
SEED = """
WITH key AS (
    INSERT INTO api_keys (id, name, prefix, key_hash, scopes, created_at)
    VALUES (gen_random_uuid(), 'bench', 'hk_bench', md5(random()::text), '["admin"]', now())
    RETURNING id
), n AS (
    INSERT INTO notifications (id, api_key_id, request_id, request_hash, channel, user_id,
        template_code, variables, priority, metadata, status, initial_status, attempts,
        created_at, updated_at)
    SELECT gen_random_uuid(), key.id, 'bench-' || i, md5(i::text), 'email', gen_random_uuid(),
        'welcome', '{"name": "Ada"}', 5, '{"order": 1}', 'delivered', 'pending', 1, now(), now()
    FROM key, generate_series(1, $1) AS i
    RETURNING id
)
INSERT INTO webhook_events (notification_id, type, status, error, attempts,
    provider_response, "timestamp")
SELECT id, 'notification.delivered', 'delivered', NULL, 1, '250 2.0.0 Ok: queued', now() FROM n
"""
ENDPOINT = """
INSERT INTO webhook_endpoints (id, url, events, enabled, secret, created_at, updated_at)
VALUES (gen_random_uuid(), $1, '["*"]', true, $2, now(), now())
"""


async def herald_rate(receiver: Receiver, count: int, folder: Path) -> dict[str, Any]:
    name = unique("herald_bench")
    async with postgres_databases([name]):
        url = pg_url(name)
        await migrate(Settings(database_url=url, jwt_secret="b" * 40), ["gateway"])
        dsn = url.replace("+asyncpg", "")
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(ENDPOINT, receiver.url, webhooks.new_secret())
            await conn.execute(SEED, count)
            port = free_port()
            worker = Process(
                "webhook_worker",
                ["worker", "webhooks", "--host", "127.0.0.1", "--port", str(port)],
                environment(
                    {
                        "HERALD_DATABASE_URL": url,
                        "HERALD_JWT_SECRET": "bench-secret-" + "s" * 40,
                        "HERALD_ALLOW_PRIVATE_TARGETS": "true",
                        "HERALD_LOG_LEVEL": "warning",
                    }
                ),
                folder / "webhook_worker.log",
                port,
            )
            started = time.perf_counter()
            worker.start()
            assert worker.popen is not None
            try:
                done = "SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'"
                while await conn.fetchval(done) < count:
                    await asyncio.sleep(0.1)
                total_s = time.perf_counter() - started
                cpu = cpu_seconds(worker.popen.pid)
                rss = rss_mb(worker.popen.pid)
            finally:
                worker.stop()
            first, last = await conn.fetchrow(
                'SELECT min("timestamp"), max("timestamp") FROM webhook_attempts'
            )
            attempts = await conn.fetchval("SELECT count(*) FROM webhook_attempts")
        finally:
            await conn.close()
    hooks, ids = await receiver.count()
    delivering_s = max((last - first).total_seconds(), 0.001)
    return {
        "events": count,
        "attempts": attempts,
        "received": hooks,
        "distinct_webhook_ids": ids,
        "from_start_s": round(total_s, 2),
        "delivering_s": round(delivering_s, 2),
        "delivered_per_s": round(count / delivering_s, 1),
        "worker_cpu_ms_per_event": round(cpu * 1000 / count, 3),
        "worker_rss_mb": round(rss, 1),
    }


async def main(count: int) -> dict[str, Any]:
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    receiver = Receiver()
    await receiver.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            result["ceilings"] = {
                "asyncio_posts_per_s": round(await bare_asyncio(receiver.port, 20_000, 16), 1),
                "httpx_posts_per_s": round(await bare_httpx(receiver.url, 5_000, 16), 1),
            }
            wrk = bare_wrk(receiver.url, 5, 16, Path(folder))
            if wrk is not None:
                result["ceilings"]["wrk_posts_per_s"] = wrk
            before = await receiver.count()
            herald = await herald_rate(receiver, count, Path(folder))
            herald["received"] -= before[0]
            herald["distinct_webhook_ids"] -= before[1]
            result["herald"] = herald
    finally:
        receiver.stop()
    result["ratios"] = {
        f"herald_vs_{name.removesuffix('_per_s')}": round(
            result["herald"]["delivered_per_s"] / value, 3
        )
        for name, value in result["ceilings"].items()
    }
    return result


def table(result: dict[str, Any]) -> str:
    h = result["herald"]
    lines = [
        f"{h['events']} webhook events, one endpoint, a local receiver answering 204",
        f"herald   delivered {h['delivered_per_s']:>10.1f} events/s"
        f" (first to last attempt {h['delivering_s']} s; {h['from_start_s']} s from the"
        " worker's start)",
        f"herald   attempts {h['attempts']}, received {h['received']},"
        f" distinct webhook-ids {h['distinct_webhook_ids']}",
        f"herald   worker CPU {h['worker_cpu_ms_per_event']} ms per event,"
        f" RSS {h['worker_rss_mb']} MB",
        *ceiling_lines(result),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.count))
    print(table(outcome))
    print(f"written to {save('webhooks', outcome)}")
