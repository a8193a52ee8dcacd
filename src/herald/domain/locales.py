"""BCP 47 locale handling: normalising tags and the fallback chain of SPEC.md §3."""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import AfterValidator, Field

# What a client may send: a BCP 47 language[-Script][-REGION] tag, "_" accepted for "-".
PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z]{4})?([-_]([A-Za-z]{2}|[0-9]{3}))?$"
_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?$")


def normalize(tag: str) -> str:
    """``pt_br`` → ``pt-BR``; raises ValueError for something that is not a language tag."""
    tag = tag.strip().replace("_", "-")
    if not _TAG.match(tag):
        raise ValueError(f"'{tag}' is not a BCP 47 language tag such as 'en', 'fr' or 'pt-BR'")
    parts = tag.split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        out.append(part.title() if len(part) == 4 else part.upper())
    return "-".join(out)


@functools.lru_cache(maxsize=1024)
def fallback_chain(requested: str | None, default: str) -> tuple[str, ...]:
    """``pt-BR`` → ``pt`` → the template's default locale, without repeats. (Kept for
    the pairs seen last: a batch or a topic page asks for the same few a thousand
    times.)"""
    chain: list[str] = []
    if requested:
        parts = requested.split("-")
        for i in range(len(parts), 0, -1):
            chain.append("-".join(parts[:i]))
    chain.append(default)
    return tuple(dict.fromkeys(chain))


# A locale field in a request: the schema shows the pattern, validation normalises it.
Locale = Annotated[str, Field(pattern=PATTERN, max_length=35), AfterValidator(normalize)]
