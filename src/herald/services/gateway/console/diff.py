"""Two versions of a template side by side, line by line."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher


@dataclass(frozen=True, slots=True)
class Row:
    left: str | None
    right: str | None
    # "same", "changed", "removed" (left only) or "added" (right only)
    kind: str


def side_by_side(old: str | None, new: str | None) -> list[Row]:
    a, b = (old or "").splitlines(), (new or "").splitlines()
    rows: list[Row] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [Row(line, line, "same") for line in a[i1:i2]]
        elif tag == "delete":
            rows += [Row(line, None, "removed") for line in a[i1:i2]]
        elif tag == "insert":
            rows += [Row(None, line, "added") for line in b[j1:j2]]
        else:
            left, right = a[i1:i2], b[j1:j2]
            for k in range(max(len(left), len(right))):
                rows.append(
                    Row(
                        left[k] if k < len(left) else None,
                        right[k] if k < len(right) else None,
                        "changed",
                    )
                )
    return rows
