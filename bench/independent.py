"""The independent harness, run by ``make bench`` beside its own: load from wrk (C, a
Lua script making a new request_id per request, 64 connections) into the five
services on the real servers, mail into Postfix's smtp-sink, and the same-run ceiling
of that sink from Postfix's smtp-source. Nothing of Herald's or of the Python harness
is on the load's or the sink's side, so where the two harnesses' figures differ, it is
the harnesses.

Needs Debian's ``wrk`` and ``postfix`` (for smtp-sink and smtp-source), which
``make bench`` installs; without them it says so and is skipped.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from tests.smtp import free_port

from bench.stack import five_services

SMTP_SINK, SMTP_SOURCE, WRK = "/usr/sbin/smtp-sink", "/usr/sbin/smtp-source", "wrk"
SCRIPT = Path(__file__).parent / "post.lua"


def available() -> str | None:
    """Why the independent harness cannot run here, or None."""
    missing = [t for t in (SMTP_SINK, SMTP_SOURCE) if not Path(t).exists()]
    if shutil.which(WRK) is None:
        missing.append(WRK)
    return f"missing {', '.join(missing)} (apt-get install wrk postfix)" if missing else None


def smtp_ceiling(port: int, messages: int = 20000, sessions: int = 64) -> float:
    """Messages per second smtp-source pushes into the sink (1 KB each, pipelined)."""
    started = time.perf_counter()
    subprocess.run(
        [
            SMTP_SOURCE,
            "-s",
            str(sessions),
            "-m",
            str(messages),
            "-l",
            "1000",
            "-c",
            f"127.0.0.1:{port}",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return messages / (time.perf_counter() - started)


def wrk(url: str, seconds: float, connections: int, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [WRK, "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(SCRIPT), url],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        env={**os.environ, **env},
        check=True,
    )
    out = done.stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": latency.get("50"),
        "p99": latency.get("99"),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx.*?:\s+(\d+)", out)) else 0,
    }


def _sink(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [SMTP_SINK, "-u", "nobody", f"127.0.0.1:{port}", "1024"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def total(client: httpx.AsyncClient, **filters: str) -> int:
    page = await client.get("/api/v1/notifications/", params={"limit": 1, **filters})
    return int(page.json()["meta"]["total"])


async def run(api_key: str, seconds: float, connections: int = 64) -> dict[str, Any]:
    port = free_port()
    sink = _sink(port)
    try:
        await asyncio.sleep(0.5)
        ceiling = await asyncio.to_thread(smtp_ceiling, port)
        async with five_services(
            smtp_url=f"smtp://127.0.0.1:{port}",
            api_key=api_key,
            HERALD_RATE_LIMIT_PER_RECIPIENT="10000000/minute",
        ) as bench:
            url = bench.stack.url("gateway")
            auth = {"Authorization": f"Bearer {api_key}"}
            async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as c:
                user = (
                    await c.post(
                        "/api/v1/users/",
                        json={
                            "name": "Ada",
                            "email": "ada@example.com",
                            "password": "correct horse",
                        },
                    )
                ).json()["data"]["id"]
                started = time.monotonic()
                load = await asyncio.to_thread(
                    wrk,
                    f"{url}/api/v1/notifications/",
                    seconds,
                    connections,
                    {"HERALD_BENCH_USER": user, "HERALD_BENCH_KEY": api_key},
                )
                deadline = time.monotonic() + 600
                # Requests wrk left in flight at its end may still be stored:
                # what was accepted is read again each round.
                while (delivered := await total(c, status="delivered")) < (
                    accepted := await total(c)
                ) and time.monotonic() < deadline:
                    await asyncio.sleep(0.25)
                drained = time.monotonic() - started
    finally:
        sink.terminate()
        sink.wait(10)
    return {
        "harness": f"wrk -t2 -c{connections} -d{seconds:g}s + smtp-sink",
        "accept": load,
        "accepted": accepted,
        "delivered": delivered,
        "end_to_end_per_s": round(delivered / drained, 1),
        "smtp_source_ceiling_per_s": round(ceiling, 1),
        "end_to_end_vs_smtp_source": round(delivered / drained / ceiling, 3),
    }
