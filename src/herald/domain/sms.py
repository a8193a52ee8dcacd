"""Text messages: phone numbers in E.164, and how many parts a text is sent in.

A message of GSM 03.38 characters goes in 7-bit septets: 160 in one part, 153 per part
once it is split (the rest of each part holds the header that joins them), and each
character of the extension table (``^{}\\[~]|€`` and the form feed) takes two. Any
other character makes the whole message UCS-2: 70 UTF-16 code units in one part, 67
per part once split."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
E164_PATTERN = E164.pattern

_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = "^{}\\[~]|€\f"
_GSM = frozenset(_GSM_BASIC) - {"\x1b"}
_EXT = frozenset(_GSM_EXTENDED)


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets, or UTF-16 code units
    parts: int


def segments(text: str) -> Segments:
    if all(c in _GSM or c in _EXT for c in text):
        units = sum(2 if c in _EXT else 1 for c in text)
        single, split, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, split, encoding = 70, 67, "UCS-2"
    parts = 1 if units <= single else math.ceil(units / split)
    return Segments(encoding, units, parts)


def is_phone(value: str) -> bool:
    return bool(E164.match(value))
