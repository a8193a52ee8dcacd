"""``herald dev`` as a person runs it: one process, no server, port 8000's API."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from tests.e2e.processes import notification
from tests.integration.helpers import browser_subscription
from tests.smtp import SmtpServer


async def wait_status(
    client: httpx.AsyncClient, nid: str, status: str, timeout: float = 30
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, object] = (await client.get(f"/api/v1/notifications/{nid}")).json()["data"]
        if found["status"] == status or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


class TestDevMode:
    async def test_starts_fast_and_delivers_into_the_inbox(self, dev_factory) -> None:
        dev = dev_factory()
        took = await dev.start()
        assert took < 15, f"herald dev took {took:.1f}s to answer /health"
        async with httpx.AsyncClient(base_url=dev.url, headers=dev.auth) as client:
            assert (await client.get("/ready")).status_code == 200
            user = (
                await client.post(
                    "/api/v1/users/",
                    json={
                        "name": "Ada",
                        "email": "ada@example.com",
                        "password": "correct horse",
                        "preferences": {"email": True, "push": True},
                    },
                )
            ).json()["data"]
            sent = (
                await client.post(
                    "/api/v1/notifications/",
                    json=notification(
                        user["id"],
                        request_id="first",
                        variables={"name": "Ada", "link": "https://example.com/go"},
                    ),
                )
            ).json()["data"]
            assert (await wait_status(client, sent["notification_id"], "delivered"))[
                "status"
            ] == "delivered"
            inbox = (await client.get("/dev/inbox.json")).json()["data"]
            assert inbox[0]["recipient"] == "ada@example.com"
            assert inbox[0]["subject"] == "Welcome, Ada!"
            # What it keeps is its user's alone.
            assert dev.home.stat().st_mode & 0o777 == 0o700
            kept = [p for p in dev.home.iterdir() if p.is_file()]
            assert {"herald.db", "capture.db", "api_key"} <= {p.name for p in kept}
            assert all(p.stat().st_mode & 0o077 == 0 for p in kept), kept
            page = await client.get(f"/dev/inbox/{inbox[0]['id']}")
            assert "List-Unsubscribe" in page.text and "Get started" in page.text
            assert "Herald dev inbox" in (await client.get("/dev/inbox")).text

    async def test_ctrl_c_stops_it_cleanly(self, dev_factory) -> None:
        dev = dev_factory()
        await dev.start()
        assert dev.process.popen is not None
        dev.process.popen.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = await asyncio.to_thread(dev.process.popen.wait, 20)
        log = dev.process.log.read_text()
        # 130 is how a process says "stopped by Ctrl-C" (128 + SIGINT); uvicorn re-raises it.
        assert code in (0, 130), log[-2000:]
        assert "Application shutdown complete" in log
        assert "Traceback" not in log and "ERROR" not in log

    async def test_a_person_manages_their_own_profile_through_port_8000(self, dev_factory) -> None:
        dev = dev_factory()
        await dev.start()
        async with httpx.AsyncClient(base_url=dev.url) as client:
            created = await client.post(
                "/api/v1/users/",
                headers=dev.auth,
                json={
                    "name": "Bea",
                    "email": "bea@example.com",
                    "password": "a long password",
                    "preferences": {"email": True, "push": True},
                },
            )
            user = created.json()["data"]
            login = await client.post(
                "/api/v1/auth/login",
                json={"email": "bea@example.com", "password": "a long password"},
            )
            me = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
            sub, _, _ = browser_subscription("https://push.example.org/send/bea")
            device = await client.post(
                f"/api/v1/users/{user['id']}/devices",
                headers=me,
                json={"kind": "webpush", "subscription": sub},
            )
            assert device.status_code == 201, device.text
            prefs = await client.put(
                f"/api/v1/users/{user['id']}/preferences",
                headers=me,
                json={"email": False, "push": True},
            )
            assert prefs.json()["data"] == {
                "email": False,
                "push": True,
                "sms": True,
                "chat": True,
                "in_app": True,
                "quiet_hours": None,
            }
            seen = (await client.get(f"/api/v1/users/{user['id']}", headers=me)).json()["data"]
            assert seen["preferences"] == prefs.json()["data"]
            skipped = (
                await client.post(
                    "/api/v1/notifications/",
                    headers=dev.auth,
                    json=notification(user["id"], request_id="bea-1"),
                )
            ).json()["data"]
            assert skipped["status"] == "skipped"
            pushed = (
                await client.post(
                    "/api/v1/notifications/",
                    headers=dev.auth,
                    json=notification(
                        user["id"],
                        notification_type="push",
                        request_id="bea-2",
                        variables={"name": "Bea", "link": "https://example.com"},
                    ),
                )
            ).json()["data"]
            client.headers.update(dev.auth)
            assert (await wait_status(client, pushed["notification_id"], "delivered"))[
                "status"
            ] == "delivered"
            inbox = (await client.get("/dev/inbox.json")).json()["data"]
            assert inbox[0]["channel"] == "push" and inbox[0]["subject"] == "Welcome, Bea!"
            other = await client.post(
                "/api/v1/users/",
                headers=dev.auth,
                json={"name": "Cy", "email": "cy@example.com", "password": "another password"},
            )
            theirs = await client.get(f"/api/v1/users/{other.json()['data']['id']}", headers=me)
            assert theirs.status_code == 403

    async def test_killing_dev_with_work_pending_loses_nothing(
        self, dev_factory, tmp_path: Path
    ) -> None:
        # Given herald dev sending to an SMTP server that is down
        smtp = SmtpServer()
        dev = dev_factory(
            HERALD_SMTP_URL=smtp.url,
            HERALD_RETRY_BASE_DELAY="0.2",
            HERALD_RETRY_MAX_DELAY="1",
            HERALD_RETRY_MAX_ATTEMPTS="50",
            HERALD_BREAKER_RESET_SECONDS="1",
            HERALD_RATE_LIMIT_PER_RECIPIENT="1000/minute",
        )
        await dev.start()
        async with httpx.AsyncClient(base_url=dev.url, headers=dev.auth) as client:
            created = await client.post(
                "/api/v1/users/",
                json={"name": "Ada", "email": "ada@example.com", "password": "correct horse"},
            )
            assert created.status_code == 201, created.text
            user = created.json()["data"]
            ids = []
            for _ in range(20):
                response = await client.post(
                    "/api/v1/notifications/",
                    json=notification(user["id"]),
                )
                ids.append(response.json()["data"]["notification_id"])
        # When the process is killed outright and started again with the SMTP server up
        dev.process.kill()
        smtp.start()
        try:
            await dev.start()
            async with httpx.AsyncClient(base_url=dev.url, headers=dev.auth) as client:
                # Then every accepted notification is delivered
                for nid in ids:
                    found = await wait_status(client, nid, "delivered", timeout=60)
                    assert found["status"] == "delivered", found
            await smtp.wait_for(20)
            assert {m["X-Herald-Notification-Id"] for m in smtp.received} == set(ids)
        finally:
            smtp.stop()
