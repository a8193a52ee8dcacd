"""The email worker against real SMTP servers: TLS and auth, pooled connections,
unsubscribe links, bounces, and the circuit breaker."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from herald.adapters.email.smtp import SmtpTransport
from herald.domain.errors import DeliveryError
from herald.kit import auth
from herald.ports import OutgoingEmail
from tests.integration.pipeline import Stack, herald_stack, on_servers
from tests.smtp import SmtpServer


def mail(to: str = "ada@example.com") -> OutgoingEmail:
    message = EmailMessage()
    message["From"] = "herald@localhost"
    message["To"] = to
    message["Subject"] = "hello"
    message["Message-ID"] = f"<{uuid.uuid4()}@localhost>"
    message.set_content("hi")
    return OutgoingEmail("herald@localhost", (to,), message.as_bytes())


@pytest.fixture(params=[False, True], ids=["one command at a time", "pipelining"])
def relay(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    server = SmtpServer(pipelining=request.param)
    server.start()
    yield server
    server.stop()


class TestSmtpTransport:
    @pytest.mark.parametrize(
        ("tls", "scheme", "query"),
        [
            ("starttls", "smtp", "?starttls=true&verify=false"),
            ("implicit", "smtps", "?verify=false"),
        ],
    )
    async def test_tls_and_login(self, tls: str, scheme: str, query: str) -> None:
        server = SmtpServer(tls=tls, login=("herald", "s3cret pass"), pipelining=True)
        server.start()
        try:
            url = f"{scheme}://herald:s3cret%20pass@127.0.0.1:{server.port}{query}"
            transport = SmtpTransport(url, pool_size=1)
            await transport.send(mail())
            assert len(server.received) == 1
            await transport.close()
            wrong = SmtpTransport(url.replace("s3cret%20pass", "nope"), pool_size=1)
            with pytest.raises(DeliveryError) as refused:
                await wrong.send(mail())
            # A wrong password is Herald's misconfiguration, not the message's fault: the
            # breaker holds the backlog instead of the dead letter queue taking it.
            assert not refused.value.permanent and "535" in refused.value.error
        finally:
            server.stop()

    async def test_connections_are_pooled_and_reused(self, relay: SmtpServer) -> None:
        transport = SmtpTransport(relay.url, pool_size=2)
        await asyncio.gather(*(transport.send(mail(f"u{n}@example.com")) for n in range(20)))
        assert len(relay.received) == 20
        assert 1 <= len(relay.peers) <= 2  # 20 mails over at most 2 connections
        await transport.close()

    async def test_replies_are_classified(self, relay: SmtpServer) -> None:
        transport = SmtpTransport(relay.url, pool_size=1)
        relay.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
        relay.rcpt_replies["full@example.com"] = "452 4.2.2 mailbox full"
        with pytest.raises(DeliveryError) as gone:
            await transport.send(mail("gone@example.com"))
        with pytest.raises(DeliveryError) as full:
            await transport.send(mail("full@example.com"))
        assert gone.value.permanent and not full.value.permanent
        await transport.send(mail())  # the connection is still good after refusals
        assert len(relay.received) == 1
        relay.stop()
        with pytest.raises(DeliveryError) as down:
            await SmtpTransport(relay.url, pool_size=1).send(mail())
        assert not down.value.permanent


def unsubscribe_link(message: EmailMessage) -> str:
    found = re.match(r"<(http://[^>]+)>", message["List-Unsubscribe"])
    assert found is not None
    return found.group(1).removeprefix("http://127.0.0.1:8000")


class TestUnsubscribeAndBounces:
    async def test_one_click_unsubscribe_turns_email_off(
        self, postgres_url: str, redis_url: tuple[str, str], amqp_url: str, smtp_server: SmtpServer
    ) -> None:
        async with herald_stack(
            **on_servers(postgres_url, redis_url, amqp_url),
            smtp_url=smtp_server.url,
        ) as stack:
            user = await stack.user()
            nid = (await stack.send(stack.notification(user["id"]))).json()["data"][
                "notification_id"
            ]
            await stack.until(nid, "delivered")
            await smtp_server.wait_for(1)
            path = unsubscribe_link(smtp_server.received[0])
            page = await stack.client.get(path)
            assert page.status_code == 200 and "<form method=post>" in page.text
            assert (
                await stack.client.get(f"/api/v1/users/{user['id']}", headers=stack.auth)
            ).json()["data"]["preferences"]["email"] is True  # GET changes nothing
            done = await stack.client.post(
                path,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert done.status_code == 200, done.text
            assert done.json()["data"] == {
                "user_id": user["id"],
                "channel": "email",
                "subscribed": False,
            }
            after = await stack.send(stack.notification(user["id"]))
            assert after.json()["data"]["status"] == "skipped"
            # The link's token is not a credential, and a forged one is refused.
            token = path.rsplit("/", 1)[1]
            as_key = await stack.client.get(
                f"/api/v1/users/{user['id']}", headers={"Authorization": f"Bearer {token}"}
            )
            assert as_key.status_code == 401
            forged = auth.mint(
                "not-the-secret-" + "z" * 40,
                subject=f"{user['id']}:email",
                ttl=60,
                audience=auth.UNSUBSCRIBE,
            )
            assert (await stack.client.post(f"/api/v1/unsubscribe/{forged}")).status_code == 401

    async def test_a_hard_bounce_stops_email_until_the_address_changes(
        self, postgres_url: str, redis_url: tuple[str, str], amqp_url: str, smtp_server: SmtpServer
    ) -> None:
        async with herald_stack(
            **on_servers(postgres_url, redis_url, amqp_url),
            smtp_url=smtp_server.url,
        ) as stack:
            user = await stack.user()
            nid = (await stack.send(stack.notification(user["id"]))).json()["data"][
                "notification_id"
            ]
            await stack.until(nid, "delivered")
            report = {
                "notification_id": nid,
                "status": "failed",
                "timestamp": None,
                "error": "550 5.1.1 user unknown",
            }
            first = await stack.client.post(
                "/api/v1/email/status/", json=report, headers=stack.auth
            )
            again = await stack.client.post(
                "/api/v1/email/status/", json=report, headers=stack.auth
            )
            assert first.status_code == again.status_code == 200
            assert (await stack.status(nid))["status"] == "failed"
            skipped = (await stack.send(stack.notification(user["id"]))).json()["data"]
            assert skipped["status"] == "skipped"
            assert skipped["reason"] == "email address is bouncing: 550 5.1.1 user unknown"
            await stack.client.patch(
                f"/api/v1/users/{user['id']}",
                headers=stack.auth,
                json={"email": f"new-{user['email']}"},
            )
            fresh = (await stack.send(stack.notification(user["id"]))).json()["data"]
            assert fresh["status"] == "pending"


class TestCircuitBreaker:
    async def test_opens_while_the_relay_is_down_and_closes_after_a_probe(
        self, postgres_url: str, redis_url: tuple[str, str], amqp_url: str, smtp_server: SmtpServer
    ) -> None:
        smtp_server.stop()  # the relay is down
        async with herald_stack(
            **on_servers(postgres_url, redis_url, amqp_url),
            smtp_url=smtp_server.url,
            retry_max_attempts=4,
            breaker_failure_threshold=2,
            breaker_reset_seconds=1.0,
            rate_limit_per_recipient="1000/minute",
        ) as stack:
            user = await stack.user()
            ids = [
                (await stack.send(stack.notification(user["id"]))).json()["data"]["notification_id"]
                for _ in range(6)
            ]
            target = f"127.0.0.1:{smtp_server.port}"
            await until_ready_shows(stack, target, "open")
            metrics = (await stack.client.get("/workers/email/metrics")).text
            assert (
                f'herald_circuit_breaker_open{{channel="email",target="{target}"}} 1.0' in metrics
            )
            await asyncio.sleep(3)  # longer than 4 attempts would take without the breaker
            smtp_server.start()
            for nid in ids:
                done = await stack.until(nid, "delivered", timeout=30)
                # Waiting on an open breaker spent no attempts.
                assert done["attempts"] < stack.settings.retry_max_attempts
            await until_ready_shows(stack, target, "closed")


async def until_ready_shows(stack: Stack, target: str, state: str) -> None:
    for _ in range(200):
        ready = (await stack.client.get("/workers/email/ready")).json()["data"]
        if ready["breakers"].get(target) == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"breaker for {target} never became {state}: {ready}")
