"""Checking that a webhook came from Herald: Standard Webhooks signatures
(https://www.standardwebhooks.com), an HMAC-SHA256 of ``{id}.{timestamp}.{body}``
under the endpoint's ``whsec_`` secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any


class InvalidWebhook(ValueError):
    """The headers do not prove that Herald sent this body, or not recently."""


def verify(
    secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = 300
) -> dict[str, Any]:
    """The event ``body`` holds, once ``headers`` prove it: a signature of it under
    ``secret`` and a timestamp within ``tolerance`` seconds of now; InvalidWebhook
    otherwise. Pass the body as received, before any JSON parsing. Keep the
    ``webhook-id``: a retried event has the same one."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split(" ")
    except (KeyError, ValueError) as exc:
        raise InvalidWebhook("missing or malformed webhook-* headers") from exc
    if abs(time.time() - timestamp) > tolerance:
        raise InvalidWebhook("the webhook-timestamp is too far from now")
    raw = body.encode() if isinstance(body, str) else body
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    for candidate in offered:
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            try:
                event: dict[str, Any] = json.loads(raw)
            except ValueError as exc:
                raise InvalidWebhook("the body is not JSON") from exc
            return event
    raise InvalidWebhook("no signature matches the secret")
