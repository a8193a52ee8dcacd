"""Writes the bytes of a notification email (RFC 5322 headers, RFC 2045 MIME parts).

Every notification email has the same shape — a text part, maybe an HTML alternative,
a fixed set of headers — so it is written directly instead of through the ``email``
package, whose object tree and generator cost ten times as much CPU per message as
the rest of building it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from email.header import Header

from herald.domain.errors import DeliveryError

CRLF = b"\r\n"


# RFC 5322 §2.1.1: a line is at most 998 characters and should be at most 78.
_MAX_LINE = 998
_FOLD_AT = 78
# Free text (RFC 5322 §3.6.5): folded, and written as encoded words where it must be.
_UNSTRUCTURED = {"Subject"}
# C0 controls and DEL but CR, LF and tab: no header may carry them as they are.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _line(name: str, value: str) -> bytes:
    # A line break inside a value would start a header of someone else's choosing.
    if "\r" in value or "\n" in value:
        raise DeliveryError(f"the {name} header holds a line break", permanent=True)
    if name in _UNSTRUCTURED:
        return f"{name}: {_folded(name, value)}\r\n".encode("ascii")
    if _CONTROLS.search(value):
        raise DeliveryError(f"the {name} header holds a control character", permanent=True)
    if not value.isascii():  # RFC 2047 encoded words, folded as RFC 5322 allows
        value = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    line = f"{name}: {value}\r\n"
    if len(line) > _MAX_LINE + 2:
        raise DeliveryError(f"the {name} header is longer than a line may be", permanent=True)
    return line.encode("ascii")


def _folded(name: str, value: str) -> str:
    """Free text as header lines of at most 78 characters: folded between words where
    the words are short and ASCII, otherwise as RFC 2047 encoded words, which can break
    anywhere."""
    value = _CONTROLS.sub(" ", value).replace("\t", " ").strip()
    plain = value.isascii() and all(len(word) < _FOLD_AT - 10 for word in value.split(" "))
    if plain and len(name) + 2 + len(value) <= _FOLD_AT:
        return value
    header = Header(value, "us-ascii" if plain else "utf-8", header_name=name)
    return header.encode(linesep="\r\n", maxlinelen=_FOLD_AT)


def _text_part(subtype: str, body: str) -> bytes:
    # base64 keeps every line short whatever the template wrote, as RFC 5322 §2.1.1 asks.
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n".encode("ascii")
        + base64.encodebytes(body.encode("utf-8")).replace(b"\n", CRLF)
    )


def write(
    headers: Sequence[tuple[str, str]], text: str, html: str | None, *, boundary: str
) -> bytes:
    """The whole message. A header value that is not ASCII is written as encoded words,
    so give addresses with a display name already formatted (``formataddr``).
    ``boundary`` must not occur in a base64 body, which one holding ``=_`` never does."""
    out = [b"MIME-Version: 1.0\r\n"]
    out.extend(_line(name, value) for name, value in headers)
    if not html:
        out.append(_text_part("plain", text))
        return b"".join(out)
    out.append(_line("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    out += [delimiter, _text_part("plain", text), delimiter, _text_part("html", html)]
    out.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)
