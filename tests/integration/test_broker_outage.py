"""RabbitMQ unreachable for 10 s under load: every accepted notification is delivered."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from tests.integration.pipeline import herald_stack, on_servers
from tests.smtp import SmtpServer
from tests.tcpproxy import TcpProxy

OUTAGE_SECONDS = 10
RATE_PER_SECOND = 10


class TestBrokerOutage:
    async def test_gateway_keeps_accepting_and_the_relay_catches_up(
        self, postgres_url: str, redis_url: tuple[str, str], amqp_url: str, smtp_server: SmtpServer
    ) -> None:
        parts = urlsplit(amqp_url)
        proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
        await proxy.start()
        through_proxy = amqp_url.replace(f":{parts.port}/", f":{proxy.port}/")
        try:
            async with herald_stack(
                **on_servers(postgres_url, redis_url, through_proxy),
                smtp_url=smtp_server.url,
                rate_limit_per_recipient="100000/minute",
            ) as stack:
                user = await stack.user()
                ok = await stack.send(stack.notification(user["id"]))
                await stack.until(ok.json()["data"]["notification_id"], "delivered")

                # When RabbitMQ becomes unreachable while requests keep coming
                await proxy.disconnect()
                accepted: list[str] = []
                for _ in range(OUTAGE_SECONDS * RATE_PER_SECOND):
                    response = await stack.send(
                        stack.notification(
                            user["id"], variables={"name": "x", "link": "https://e.com"}
                        )
                    )
                    assert response.status_code == 202, response.text
                    accepted.append(response.json()["data"]["notification_id"])
                    await asyncio.sleep(1 / RATE_PER_SECOND)
                ready = await stack.client.get("/ready")
                assert ready.status_code == 503 and "broker" in ready.json()["error"]
                proxy.restore()

                # Then every notification accepted during the outage is delivered
                for nid in accepted:
                    await stack.until(nid, "delivered", timeout=60)
                delivered_ids = {m["X-Herald-Notification-Id"] for m in smtp_server.received}
                assert set(accepted) <= delivered_ids
                duplicates = len(smtp_server.received) - len(delivered_ids)
                print(
                    f"\naccepted={len(accepted) + 1} delivered={len(delivered_ids)} "
                    f"lost=0 duplicates={duplicates}"
                )
        finally:
            await proxy.stop()
