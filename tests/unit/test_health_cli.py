"""``herald healthcheck``'s quick path: the standard library only, and the same answers
as the full command line."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from herald.cli.health import quick
from tests.smtp import free_port


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_it_answers_for_a_healthy_service_and_for_none(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert quick(["healthcheck", "--port", str(port)]) == 0
    assert quick(["healthcheck", f"--port={port}"]) == 0
    monkeypatch.setenv("HERALD_PORT", str(port))
    assert quick(["healthcheck"]) == 0
    assert quick(["healthcheck", "--port", str(free_port())]) == 1


def test_anything_else_is_left_to_the_full_command_line() -> None:
    for argv in ([], ["serve", "gateway"], ["healthcheck", "--help"], ["healthcheck", "--port"]):
        assert quick(argv) is None, argv


def test_the_quick_path_imports_none_of_the_cli(port: int) -> None:
    code = (
        "import sys; from herald.cli import main; sys.argv = ['herald', 'healthcheck',"
        f" '--port', '{port}']\n"
        "try:\n    main()\nexcept SystemExit as e:\n"
        "    heavy = {'typer', 'fastapi', 'uvicorn', 'sqlalchemy'} & set(sys.modules)\n"
        "    print(e.code, sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "0 []", out.stderr
