"""A PgBouncer of the test's own, from Debian's package, in transaction mode in front
of the machine's PostgreSQL: started on a free port, stopped (and its folder removed)
afterwards. PgBouncer will not run as root, so it runs as ``postgres``."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import IN_CI, PG, reachable
from tests.smtp import free_port

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@contextlib.contextmanager
def pgbouncer(pool_size: int = 3) -> Iterator[int]:
    """PgBouncer's port. ``pool_size`` server connections per database, fewer than
    Herald's clients, so that transactions take turns on them as in production."""
    if not Path(BINARY).exists():
        if IN_CI:
            pytest.fail("pgbouncer is not installed; CI needs it (apt-get install pgbouncer)")
        pytest.skip("pgbouncer is not installed")
    folder = Path(tempfile.mkdtemp(prefix="herald-pgbouncer-"))
    port = free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={PG[0]} port={PG[1]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""
    )
    os.chmod(folder, 0o777)
    as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
    process = subprocess.Popen(
        [BINARY, *as_user, str(folder / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while not reachable(("127.0.0.1", port)):
            if process.poll() is not None or time.monotonic() > deadline:
                log = folder / "pgbouncer.log"
                raise AssertionError(log.read_text() if log.exists() else "pgbouncer exited")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
