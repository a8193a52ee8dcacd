from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.e2e.processes import Process, environment
from tests.smtp import free_port


class Dev:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.home = home
        self.process = Process(
            "dev",
            ["dev", "--port", str(self.port), "--home", str(home)],
            env,
            home.parent / "dev.log",
            self.port,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {(self.home / 'api_key').read_text().strip()}"}

    async def start(self) -> float:
        started = time.monotonic()
        self.process.start()
        await self.process.wait_healthy(timeout=30)
        return time.monotonic() - started


@pytest_asyncio.fixture
async def dev_factory(tmp_path: Path) -> AsyncIterator[object]:
    made: list[Dev] = []

    def make(**values: str) -> Dev:
        env = environment({"HERALD_DEV_SMTP_PORT": str(free_port()), **values})
        dev = Dev(tmp_path / ".herald", env)
        made.append(dev)
        return dev

    yield make
    for dev in made:
        dev.process.stop()
