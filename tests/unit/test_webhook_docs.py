"""The signature checks docs/webhooks.md shows, in Python and in Node.js, run against
what Herald signs: a body it signed passes, a tampered one does not."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from herald.domain import webhooks
from herald.domain.clock import utcnow
from herald.services.gateway.webhooks.worker import Claimed, signed_headers

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = webhooks.new_secret()
BODY = json.dumps({"type": "notification.delivered", "data": {"status": "delivered"}}).encode()


def block(language: str, containing: str) -> str:
    found = [
        b for b in re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S) if containing in b
    ]
    assert len(found) == 1, f"one {language} block with {containing!r} in {DOC}"
    return found[0]


def signed(body: bytes = BODY, secrets: tuple[str, ...] = (SECRET,)) -> dict[str, str]:
    claimed = Claimed(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "t", body, 0, "u", secrets, False, utcnow()
    )
    return signed_headers(claimed, int(time.time()))


def test_the_python_check_passes_what_herald_signs_and_nothing_else() -> None:
    handled: list[tuple[str, Any]] = []
    scope: dict[str, Any] = {"secret": SECRET, "handle": lambda t, d: handled.append((t, d))}
    exec(block("python", "def receive"), scope)
    scope["receive"](signed(), BODY)
    assert handled == [("notification.delivered", {"status": "delivered"})]
    with pytest.raises(PermissionError):
        scope["receive"](signed(), BODY.replace(b"delivered", b"failed!!!"))


def test_the_node_check_passes_what_herald_signs_and_nothing_else(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed to check the documented JavaScript (CI installs it)"
    (tmp_path / "verify.mjs").write_text(block("js", "verifyWebhook"))
    (tmp_path / "run.mjs").write_text(
        'import { verifyWebhook } from "./verify.mjs";\n'
        "const input = JSON.parse(process.argv[2]);\n"
        "try {\n"
        '  const body = Buffer.from(input.body, "base64");\n'
        "  const event = verifyWebhook(input.secret, input.headers, body);\n"
        '  console.log("ok " + event.type);\n'
        '} catch (e) { console.log("refused " + e.message); }\n'
    )
    old = webhooks.new_secret()

    def run(headers: dict[str, str], body: bytes, secret: str = SECRET) -> str:
        given = json.dumps(
            {"secret": secret, "headers": headers, "body": base64.b64encode(body).decode()}
        )
        out = subprocess.run(
            [node, str(tmp_path / "run.mjs"), given], capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run(signed(), BODY) == "ok notification.delivered"
    # During a rotation either secret verifies.
    both = signed(secrets=(SECRET, old))
    assert run(both, BODY) == run(both, BODY, old) == "ok notification.delivered"
    assert run(signed(), BODY + b" ").startswith("refused no signature")
    stale = {**signed(), "webhook-timestamp": str(int(time.time()) - 3600)}
    assert run(stale, BODY).startswith("refused webhook-timestamp")
