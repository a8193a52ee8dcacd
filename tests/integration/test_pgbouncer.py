"""Herald through a real PgBouncer (Debian's) in transaction mode, with fewer server
connections than Herald has clients: every path that touches the gateway's and the
workers' databases (single statements on asyncpg, SQLAlchemy sessions, the advisory
lock a digest window takes, the scheduler's claim, a topic's fan-out, the ledger)
works with HERALD_DATABASE_TRANSACTION_POOLING, and every notification is delivered
once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.clock import ManualClock
from tests.integration.pipeline import herald_stack, on_servers
from tests.integration.test_schedules import comment, digest_template
from tests.pgbouncer import pgbouncer
from tests.servers import PG
from tests.smtp import SmtpServer

EMAILS = 150


async def test_every_path_works_through_pgbouncer_in_transaction_mode(
    postgres_url: str, redis_url: tuple[str, str], amqp_url: str, smtp_server: SmtpServer
) -> None:
    clock = ManualClock(datetime.now(UTC))
    with pgbouncer(pool_size=3) as port:
        through = postgres_url.replace(f":{PG[1]}/", f":{port}/")
        async with herald_stack(
            clock,
            **on_servers(through, redis_url, amqp_url),
            smtp_url=smtp_server.url,
            database_transaction_pooling=True,
            rate_limit_per_recipient="1000000/minute",
        ) as stack:
            users = [await stack.user(name=f"User {i}") for i in range(3)]
            await digest_template(stack)

            # Sends at once: many transactions taking turns on three server connections.
            bodies = [stack.notification(users[i % 3]["id"]) for i in range(EMAILS)]
            answers = await asyncio.gather(*(stack.send(b) for b in bodies))
            assert {a.status_code for a in answers} == {202}, answers[0].text
            replayed = await stack.send(bodies[0])  # the same request_id: not sent again
            assert replayed.json()["data"] == answers[0].json()["data"]

            tomorrow = (clock.now() + timedelta(days=1)).isoformat()
            later = await stack.send(stack.notification(users[0]["id"], send_at=tomorrow))
            assert later.json()["data"]["status"] == "scheduled", later.text
            digest = [await stack.send(comment(users[1]["id"], t)) for t in ("a", "b")]
            topic = await stack.client.post(
                "/api/v1/topics/", json={"key": "all", "name": "All"}, headers=stack.auth
            )
            assert topic.status_code == 201, topic.text
            await stack.client.post(
                "/api/v1/topics/all/subscribers",
                json={"user_ids": [u["id"] for u in users]},
                headers=stack.auth,
            )
            fanned = stack.notification(users[0]["id"], notification_type="in_app")
            del fanned["user_id"]
            parent = await stack.send({**fanned, "topic": "all"})
            assert parent.status_code == 202, parent.text

            for answer in answers:
                await stack.until(answer.json()["data"]["notification_id"], "delivered")
            clock.advance(seconds=601)  # the digest window closes
            for member in digest:
                await stack.until(member.json()["data"]["notification_id"], "delivered")
            for user in users:
                for _ in range(100):
                    feed = await stack.client.get(
                        f"/api/v1/users/{user['id']}/feed", headers=stack.auth
                    )
                    if feed.json()["data"]:
                        break
                    await asyncio.sleep(0.1)
                assert len(feed.json()["data"]) == 1, user
            cancelled = await stack.client.post(
                f"/api/v1/notifications/{later.json()['data']['notification_id']}/cancel",
                headers=stack.auth,
            )
            assert cancelled.status_code == 200, cancelled.text

            # Each email once, and the digest as one message.
            assert len(smtp_server.received) == EMAILS + 1
