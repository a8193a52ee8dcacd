"""What installing Herald brings, and what `make dev` installs."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fcm_token_refresh_dependency_is_declared() -> None:
    # FCM's token refresh imports google.auth.transport.requests, which needs requests:
    # declared through google-auth's extra, not borrowed from another package.
    required = importlib.metadata.requires("herald") or []
    assert any(r.replace(" ", "").startswith("google-auth[requests]") for r in required)


def test_make_dev_installs_herald_without_the_test_tools() -> None:
    planned = subprocess.run(
        ["make", "-n", "-B", "dev"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "pip install --quiet -e ." in planned
    assert "[test]" not in planned
