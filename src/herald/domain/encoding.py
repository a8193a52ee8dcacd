"""base64url as Web Push subscriptions carry it: unpadded (RFC 7515 §2)."""

from __future__ import annotations

import base64


def b64url_decode(value: str) -> bytes:
    """Decode unpadded base64url; raises ValueError (binascii.Error) on bad input."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
