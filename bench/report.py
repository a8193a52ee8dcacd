"""What every benchmark ends with: the same run's ceilings and the ratios to them as
table lines, and the result written to ``bench/results``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def ceiling_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"ceiling  {key:<40} {value:>10.1f}" for key, value in result["ceilings"].items()]
    lines += [f"ratio    {key:<40} {value:>10.3f}" for key, value in result["ratios"].items()]
    return lines


def save(name: str, outcome: dict[str, Any]) -> Path:
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}-{outcome['when'].replace(':', '')}.json"
    path.write_text(json.dumps(outcome, indent=2, default=str))
    return path
