"""A RabbitMQ cluster of the test's own: three nodes of Debian's rabbitmq-server on
this machine, each with its own name, ports, folders and configuration file (the
machine's pins its listener to 5672), sharing the machine's Erlang cookie, joined
with ``join_cluster``. The machine's own broker is left alone."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import IN_CI
from tests.smtp import free_port

SERVER = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
CTL = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"


@dataclass
class Node:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str, timeout: float = 90) -> None:
        done = subprocess.run(
            [CTL, "-n", self.name, *args], capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.stderr[-2000:]}"

    def stop_app(self) -> None:
        """The node stops being a broker (its connections close); its Erlang VM stays,
        to be started again with ``start_app``."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.started()

    def started(self, timeout: float = 90) -> None:
        """Wait until the node runs the broker. ``await_startup`` fails at once on a
        node not yet known to epmd, as one just started with ``-detached`` is."""
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run(
                [CTL, "-n", self.name, "await_startup", "--timeout", "30"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if done.returncode == 0:
                return
            assert time.monotonic() < deadline, f"{self.name} did not start: {done.stderr[-1500:]}"
            time.sleep(0.5)


def _start(node: Node, folder: Path) -> None:
    (folder / "mnesia").mkdir(parents=True)
    (folder / "log").mkdir()
    (folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{node.port}\n")
    (folder / "enabled_plugins").write_text("[].\n")
    shutil.chown(folder, "rabbitmq", "rabbitmq")
    for path in folder.rglob("*"):
        shutil.chown(path, "rabbitmq", "rabbitmq")
    env = {
        **os.environ,
        "RABBITMQ_NODENAME": node.name,
        "RABBITMQ_NODE_PORT": str(node.port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_PID_FILE": str(folder / "pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
    }
    subprocess.run([SERVER, "-detached"], env=env, check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def rabbit_cluster(size: int = 3) -> Iterator[list[Node]]:
    """``size`` nodes clustered together, stopped and removed afterwards."""
    if not Path(SERVER).exists() or os.geteuid() != 0:
        if IN_CI:
            pytest.fail("a RabbitMQ cluster needs rabbitmq-server and root to start its nodes")
        pytest.skip("cannot start RabbitMQ nodes here")
    base = Path(tempfile.mkdtemp(prefix="herald-rabbit-"))
    os.chmod(base, 0o755)
    tag = uuid.uuid4().hex[:8]
    nodes = [Node(f"herald_t_{tag}_{i}@localhost", free_port()) for i in range(size)]
    try:
        for i, node in enumerate(nodes):
            _start(node, base / f"node{i}")
        for node in nodes:
            node.started()
        for node in nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", nodes[0].name)
            node.start_app()
        yield nodes
    finally:
        for node in nodes:
            with contextlib.suppress(Exception):
                node.ctl("stop", timeout=60)
        shutil.rmtree(base, ignore_errors=True)
