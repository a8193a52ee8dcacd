"""What an event says on the wire (SPEC.md §6.3). Every event carries the
notification's status and a timestamp: deliveries are not ordered, and receivers
order by those."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from herald.domain import webhooks


def notification_event(
    *,
    kind: str,
    timestamp: datetime,
    notification: dict[str, Any] | None,
    notification_id: uuid.UUID,
    status: str,
    error: str | None,
    attempts: int,
    provider_response: str | None,
) -> bytes:
    n = notification or {}
    data = {
        "notification_id": str(notification_id),
        "request_id": n.get("request_id"),
        "user_id": str(n["user_id"]) if n.get("user_id") else None,
        "notification_type": n.get("channel"),
        "status": status,
        "error": error,
        "attempts": attempts,
        "metadata": n.get("metadata"),
        "provider_response": provider_response,
    }
    return _body(kind, timestamp, data)


def test_event(endpoint_id: uuid.UUID, timestamp: datetime) -> bytes:
    data = {"endpoint_id": str(endpoint_id), "message": "a test event from Herald"}
    return _body(webhooks.TEST, timestamp, data)


def _body(kind: str, timestamp: datetime, data: dict[str, Any]) -> bytes:
    event = {"type": kind, "timestamp": timestamp.isoformat(), "data": data}
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
