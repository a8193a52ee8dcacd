"""What installing Herald brings, and what `make dev` installs."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import zipfile
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


def test_the_client_builds_as_a_typed_wheel_of_its_own(tmp_path: Path) -> None:
    client = ROOT / "clients" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), client],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("herald_client-*.whl")
    with zipfile.ZipFile(wheel) as built:
        names = built.namelist()
        metadata = next(n for n in names if n.endswith("METADATA"))
        described = built.read(metadata).decode()
    assert "herald_client/py.typed" in names and "herald_client/client.py" in names
    assert "Version: 0.1.0" in described and "Requires-Dist: httpx" in described
    assert not any(n.startswith("herald/") for n in names)  # the client alone
