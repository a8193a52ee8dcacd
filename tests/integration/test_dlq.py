"""Dead letters can be listed, replayed (and then delivered) and purged."""

from __future__ import annotations

import asyncio

from herald.bootstrap import open_broker
from herald.delivery import dead_letters as dlq
from herald.ports import Broker
from tests.integration.pipeline import herald_stack, on_servers
from tests.smtp import SmtpServer


class TestDeadLetterQueue:
    async def test_a_replayed_dead_letter_is_delivered(
        self, postgres_url: str, redis_url: tuple[str, str], amqp_url: str, smtp_server: SmtpServer
    ) -> None:
        async with herald_stack(
            **on_servers(postgres_url, redis_url, amqp_url),
            smtp_url=smtp_server.url,
            rate_limit_per_recipient="1000/minute",
        ) as stack:
            user = await stack.user()
            smtp_server.rcpt_replies[user["email"]] = "550 5.1.1 mailbox disabled"
            ids = [
                (await stack.send(stack.notification(user["id"]))).json()["data"]["notification_id"]
                for _ in range(3)
            ]
            for nid in ids:
                await stack.until(nid, "failed")
            broker = await open_broker(stack.settings)
            try:
                listed = await dlq.listing(broker)
                assert sorted(d.notification_id or "" for d in listed) == sorted(ids)
                assert all(
                    d.origin == "email" and d.attempts == 1 and "550" in d.error for d in listed
                )
                assert await settled_depth(broker, 3) == 3  # listing took nothing
                # When the mailbox works again and one of them is replayed
                del smtp_server.rcpt_replies[user["email"]]
                replayed = await dlq.replay(broker, notification_id=ids[0])
                assert [d.notification_id for d in replayed] == [ids[0]]
                # Then it is delivered, and the others are still dead letters
                done = await stack.until(ids[0], "delivered")
                assert done["history"][-1]["status"] == "delivered"
                assert await settled_depth(broker, 2) == 2
                purged = await dlq.purge(broker)
                assert len(purged) == 2
                assert await settled_depth(broker, 0) == 0
            finally:
                await broker.close()


async def settled_depth(broker: Broker, expected: int) -> int:
    """failed.queue's depth once the broker has applied our acks and releases (a nack
    has no reply, so it lands a moment later)."""
    for _ in range(100):
        depth = await broker.depth("failed.queue")
        if depth == expected:
            return depth
        await asyncio.sleep(0.05)
    return depth
