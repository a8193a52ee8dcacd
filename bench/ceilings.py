"""The raw speed of the same infrastructure, measured in the same run: what bounds
each stage of Herald, so that Herald's figures read as ratios."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import aio_pika
import asyncpg

from bench.http import LoadClient
from bench.load import open_loop
from herald.adapters.broker.rabbitmq import hold_more_frames
from herald.adapters.email.smtp import SmtpTransport
from herald.ports import OutgoingEmail


async def postgres_inserts(dsn: str, count: int = 3000, concurrency: int = 10) -> float:
    """Single-row insert transactions per second."""
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_rows (id bigserial primary key, body jsonb not null)"
        )
    per = count // concurrency

    async def worker() -> None:
        async with pool.acquire() as conn:
            for _ in range(per):
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO bench_rows (body) VALUES ($1)", '{"kind": "bench"}'
                    )

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return per * concurrency / elapsed


async def rabbitmq_round_trip(url: str, count: int = 5000) -> float:
    """Messages per second published with confirms to a quorum queue and consumed."""
    hold_more_frames()  # the ceiling uses the AMQP client as Herald sets it up
    connection = await aio_pika.connect_robust(url)
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(
        "bench.queue", durable=True, arguments={"x-queue-type": "quorum"}
    )
    await queue.purge()
    got = 0
    done = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal got
        await message.ack()
        got += 1
        if got >= count:
            done.set()

    consumer_channel = await connection.channel()
    await consumer_channel.set_qos(prefetch_count=64)
    consumer_queue = await consumer_channel.get_queue("bench.queue")
    await consumer_queue.consume(on_message)
    started = time.perf_counter()
    for batch in range(0, count, 100):
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(
                        b'{"kind": "bench"}', delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                    ),
                    routing_key="bench.queue",
                )
                for _ in range(min(100, count - batch))
            )
        )
    await done.wait()
    elapsed = time.perf_counter() - started
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    return count / elapsed


async def smtp_messages(port: int, count: int = 2000, connections: int = 4) -> float:
    """Messages per second into the same SMTP sink Herald sends to, by Herald's own SMTP
    client (pooled, pipelined) alone: without the queue and the database around it."""
    transport = SmtpTransport(f"smtp://127.0.0.1:{port}", pool_size=connections)
    mail = OutgoingEmail("b@localhost", ("u@example.com",), b"Subject: b\r\n\r\nbench\r\n")
    started = time.perf_counter()
    await asyncio.gather(*(transport.send(mail) for _ in range(count)))
    elapsed = time.perf_counter() - started
    await transport.close()
    return count / elapsed


BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def accept(request):
    await request.body()
    return JSONResponse({"success": True}, status_code=202)
app = Starlette(routes=[Route("/", accept, methods=["POST"])])
"""


async def bare_asgi(port: int, folder: str, rate: float, seconds: float) -> dict[str, float]:
    """A bare endpoint on the same server stack (uvicorn) under the same open-loop load."""
    await asyncio.to_thread(Path(folder, "bare_app.py").write_text, BARE_APP)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "bare_app:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        cwd=folder,
    )
    client = LoadClient("127.0.0.1", port)
    try:
        for _ in range(100):
            try:
                await client.post("/", {})
                break
            except OSError:
                await asyncio.sleep(0.1)

        async def call() -> bool:
            return (await client.post("/", {"n": 1})).status_code == 202

        return (await open_loop(call, rate=rate, seconds=seconds)).summary()
    finally:
        await client.close()
        process.terminate()
        await process.wait()


async def postgres_bulk_inserts(dsn: str, rows: int = 20_000, per_statement: int = 1000) -> float:
    """Rows per second inserted 1,000 at a time (one unnest statement and transaction
    each), notification-sized: the shape of a batch's or a fan-out page's store."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_bulk "
            "(id uuid primary key, body jsonb not null, note text not null)"
        )
        body = '{"kind": "bench", "variables": {"name": "Ada", "link": "https://example.com"}}'
        started = time.perf_counter()
        for _ in range(rows // per_statement):
            await conn.execute(
                "INSERT INTO bench_bulk SELECT * FROM unnest($1::uuid[], $2::jsonb[], $3::text[])",
                [uuid.uuid4() for _ in range(per_statement)],
                [body] * per_statement,
                ["x" * 200] * per_statement,
            )
        elapsed = time.perf_counter() - started
        await conn.execute("DROP TABLE bench_bulk")
    finally:
        await conn.close()
    return rows / elapsed
