"""``herald dlq``: look into ``failed.queue``, send messages back, or drop them.

Replay publishes a copy to the queue the message came from (with its attempt count
reset) and acknowledges the dead letter only once the broker confirmed the copy, so a
crash in between leaves a duplicate, never a loss; the worker's ledger drops the
duplicate if the first copy was delivered.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from herald.domain.messages import FAILED_QUEUE
from herald.domain.statuses import Channel
from herald.ports import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    ORIGIN_HEADER,
    Broker,
    Delivery,
    Outgoing,
)

BATCH = 100
# What a dead letter may go back to: a channel's work queue.
CHANNELS = frozenset(c.value for c in Channel)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    notification_id: str | None
    origin: str
    attempts: int
    error: str


def describe(delivery: Delivery) -> DeadLetter:
    try:
        body: dict[str, Any] = json.loads(delivery.body)
    except ValueError:
        body = {}
    headers = delivery.headers
    return DeadLetter(
        notification_id=str(body["notification_id"]) if "notification_id" in body else None,
        origin=str(headers.get(ORIGIN_HEADER, "")),
        attempts=int(str(headers.get(ATTEMPTS_HEADER, 0) or 0)),
        error=str(headers.get(ERROR_HEADER, "")),
    )


async def _each(
    broker: Broker, limit: int, act: Callable[[Delivery, DeadLetter], Any]
) -> list[DeadLetter]:
    """Take up to ``limit`` dead letters, let ``act`` settle the chosen ones, give the
    others back."""
    seen: list[DeadLetter] = []
    taken = await broker.take(FAILED_QUEUE, limit)
    for index, delivery in enumerate(taken):
        letter = describe(delivery)
        try:
            settled = await act(delivery, letter)
        except BaseException:
            # Nothing after this one was touched: hand it all back to the queue.
            for rest in taken[index:]:
                with contextlib.suppress(Exception):
                    await rest.release()
            raise
        if settled:
            seen.append(letter)
        else:
            await delivery.release()
    return seen


async def listing(broker: Broker, limit: int = BATCH) -> list[DeadLetter]:
    found: list[DeadLetter] = []

    async def keep(_: Delivery, letter: DeadLetter) -> bool:
        found.append(letter)
        return False

    await _each(broker, limit, keep)
    return found


async def replay(
    broker: Broker, *, notification_id: str | None = None, limit: int = BATCH
) -> list[DeadLetter]:
    async def resend(delivery: Delivery, letter: DeadLetter) -> bool:
        if notification_id is not None and letter.notification_id != notification_id:
            return False
        if letter.origin not in CHANNELS:
            return False
        headers = {
            k: v
            for k, v in delivery.headers.items()
            if k not in (ATTEMPTS_HEADER, ERROR_HEADER, ORIGIN_HEADER)
        }
        await broker.publish(
            [
                Outgoing(
                    routing_key=letter.origin,
                    body=delivery.body,
                    headers=headers,
                    message_id=letter.notification_id,
                )
            ]
        )
        await delivery.ack()
        return True

    return await _each(broker, limit, resend)


async def purge(broker: Broker, *, limit: int = BATCH) -> list[DeadLetter]:
    async def drop(delivery: Delivery, _: DeadLetter) -> bool:
        await delivery.ack()
        return True

    return await _each(broker, limit, drop)
