"""herald_client.webhooks.verify against the independent standardwebhooks package:
what it signs, the client accepts; what it would refuse, the client refuses."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from herald_client.webhooks import InvalidWebhook, verify
from standardwebhooks import Webhook

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
BODY = b'{"type":"notification.delivered","data":{"status":"delivered"}}'


def signed(
    secret: str, body: bytes, *, at: datetime | None = None, msg_id: str = "msg_1"
) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def test_a_body_signed_by_the_reference_is_accepted() -> None:
    assert verify(SECRET, signed(SECRET, BODY), BODY) == json.loads(BODY)
    verify(SECRET, {k.title(): v for k, v in signed(SECRET, BODY).items()}, BODY.decode())


def test_during_a_rotation_either_secret_verifies() -> None:
    new = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    headers = signed(SECRET, BODY)
    headers["webhook-signature"] += " " + signed(new, BODY)["webhook-signature"]
    verify(SECRET, headers, BODY)
    verify(new, headers, BODY)
    Webhook(new).verify(BODY, headers)  # the reference agrees


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # the body changed
        lambda h, b: ({**h, "webhook-id": "msg_2"}, b),  # another event's id
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-timestamp"}, b),
    ],
)
def test_what_the_reference_refuses_is_refused(tamper: object) -> None:
    headers, body = tamper(signed(SECRET, BODY), BODY)  # type: ignore[operator]
    with pytest.raises(InvalidWebhook):
        verify(SECRET, headers, body)
    with pytest.raises(Exception):  # noqa: B017 (the reference's own error types)
        Webhook(SECRET).verify(body, headers)


def test_an_old_timestamp_is_refused_past_the_tolerance() -> None:
    old = signed(SECRET, BODY, at=datetime.now(UTC) - timedelta(seconds=400))
    with pytest.raises(InvalidWebhook, match="too far"):
        verify(SECRET, old, BODY)
    verify(SECRET, old, BODY, tolerance=600)
    assert abs(int(old["webhook-timestamp"]) - time.time()) > 300
