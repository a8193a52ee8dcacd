"""What a notification's variables may be: the rules a send and a preview share."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

# A notification's variables (or a preview's), as JSON: enough for any receipt, small
# enough that a template's loops over them stay within the render budget.
MAX_VARIABLES_BYTES = 64 * 1024


def too_large(variables: Mapping[str, Any]) -> str | None:
    """Why these variables are refused for their size, or None."""
    return too_many_bytes(len(json.dumps(variables, default=str, separators=(",", ":")).encode()))


def too_many_bytes(size: int) -> str | None:
    """Why variables of ``size`` bytes as JSON are refused, or None."""
    if size > MAX_VARIABLES_BYTES:
        return f"variables are {size} bytes as JSON; at most {MAX_VARIABLES_BYTES} are allowed"
    return None


# A variable's name, as a template can use it: {{ order_number }}.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# What Herald gives every render itself (the worker adds the recipient's name).
PROVIDED = frozenset({"user"})


def missing(given: Mapping[str, Any], needed: Iterable[str]) -> list[str]:
    """The variables a template uses that the request does not give."""
    return sorted(n for n in needed if n not in PROVIDED and (n not in given or given[n] is None))


def breaks_a_line(given: Mapping[str, Any], single_line: Iterable[str]) -> str | None:
    """The first variable that a single-line field (a subject, a title) uses and that
    holds a line break or another control character, which would end the header it
    goes into (RFC 5322 §2.2) or the line it is shown on."""
    for name in sorted(single_line):
        if name in given and _control_in(given[name]):
            return name
    return None


def _control_in(value: Any) -> bool:
    if isinstance(value, str):
        return any(c in value for c in _CONTROLS)
    if isinstance(value, dict):
        return any(_control_in(v) for v in value.values())
    if isinstance(value, list):
        return any(_control_in(v) for v in value)
    return False


_CONTROLS = frozenset(chr(c) for c in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F))
