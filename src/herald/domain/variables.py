"""What a notification's variables may be: the rules a send and a preview share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# A notification's variables (or a preview's), as JSON: enough for any receipt, small
# enough that a template's loops over them stay within the render budget.
MAX_VARIABLES_BYTES = 64 * 1024


def too_large(variables: Mapping[str, Any]) -> str | None:
    """Why these variables are refused for their size, or None."""
    size = len(json.dumps(variables, default=str, separators=(",", ":")).encode())
    if size > MAX_VARIABLES_BYTES:
        return f"variables are {size} bytes as JSON; at most {MAX_VARIABLES_BYTES} are allowed"
    return None
