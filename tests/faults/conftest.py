from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults.harness import RESULTS


@pytest.fixture(scope="session", autouse=True)
def fresh_results() -> Iterator[None]:
    """Each run's table holds only that run's scenarios."""
    RESULTS.unlink(missing_ok=True)
    yield


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault table, as docs/reliability.md shows it."""
    if not RESULTS.exists():
        return
    write = terminalreporter.write_line
    write("")
    write(f"{'scenario':42} {'accepted':>8} {'delivered':>9} {'failed':>6} {'lost':>4} "
          f"{'dup':>3} {'retried':>7}  refused")  # fmt: skip
    for row in json.loads(RESULTS.read_text()).values():
        write(
            f"{row['scenario']:42} {row['accepted']:>8} {row['delivered']:>9} "
            f"{row['failed']:>6} {row['lost']:>4} {row['duplicates']:>3} {row['retried']:>7}  "
            f"{row['refused'] or '-'}"
        )
