"""Writes the bytes of a notification email (RFC 5322 headers, RFC 2045 MIME parts).

Every notification email has the same shape — a text part, maybe an HTML alternative,
a fixed set of headers — so it is written directly instead of through the ``email``
package, whose object tree and generator cost ten times as much CPU per message as
the rest of building it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from email.header import Header

from herald.domain.errors import DeliveryError

CRLF = b"\r\n"


def _line(name: str, value: str) -> bytes:
    # A line break inside a value would start a header of someone else's choosing.
    if "\r" in value or "\n" in value:
        raise DeliveryError(f"the {name} header holds a line break", permanent=True)
    if not value.isascii():  # RFC 2047 encoded words, folded as RFC 5322 allows
        value = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {value}\r\n".encode("ascii")


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
