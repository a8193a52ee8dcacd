"""How many messages a text is sent in (GSM 03.38 and UCS-2), and what a phone number
in E.164 is."""

from __future__ import annotations

import pytest

from herald.domain.sms import is_phone, segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("", "GSM-7", 0, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("{" * 80, "GSM-7", 160, 1),  # the extension table: two units each
        ("{" * 81, "GSM-7", 162, 2),
        ("Ça coûte 5 €, à bientôt", "UCS-2", 23, 1),  # û is not GSM: the whole text is UCS-2
        ("ñ" * 160, "GSM-7", 160, 1),
        ("я" * 70, "UCS-2", 70, 1),
        ("я" * 71, "UCS-2", 71, 2),
        ("я" * 134, "UCS-2", 134, 2),
        ("я" * 135, "UCS-2", 135, 3),
        ("🙂" * 35, "UCS-2", 70, 1),  # outside the BMP: a surrogate pair, two units
        ("🙂" * 36, "UCS-2", 72, 2),
    ],
)
def test_parts(text: str, encoding: str, units: int, parts: int) -> None:
    found = segments(text)
    assert (found.encoding, found.units, found.parts) == (encoding, units, parts)


@pytest.mark.parametrize("good", ["+447700900123", "+15005550006", "+8613812345678"])
def test_e164(good: str) -> None:
    assert is_phone(good)


@pytest.mark.parametrize(
    "bad", ["447700900123", "+0447700900123", "+44 7700 900123", "+44-7700", "+1234567890123456"]
)
def test_not_e164(bad: str) -> None:
    assert not is_phone(bad)
