"""What an attacker would try first: forged tokens at the gateway, and push targets
that point Herald's own requests at its private network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt

from tests.e2e.processes import environment
from tests.integration.helpers import browser_subscription
from tests.integration.pipeline import herald_stack, on_servers
from tests.smtp import SmtpServer, free_port


class TestSecurity:
    async def test_gateway_refuses_unsigned_and_wrongly_signed_tokens(
        self,
        postgres_url: str,
        redis_url: tuple[str, str],
        amqp_url: str,
        smtp_server: SmtpServer,
    ) -> None:
        async with herald_stack(
            **on_servers(postgres_url, redis_url, amqp_url),
            smtp_url=smtp_server.url,
            allow_private_targets=False,
        ) as stack:
            user = await stack.user(password="correct horse battery")
            login = await stack.client.post(
                "/api/v1/auth/login",
                json={"email": user["email"], "password": "correct horse battery"},
            )
            genuine = login.json()["data"]["access_token"]
            claims: dict[str, Any] = jwt.decode(genuine, options={"verify_signature": False})
            claims["scopes"] = ["admin"]  # what a forger would ask for
            forged = {
                "alg none": jwt.encode(claims, key="", algorithm="none"),
                "wrong key": jwt.encode(claims, key="not-the-server-key-" + "x" * 32),
            }
            path = f"/api/v1/users/{user['id']}"
            mine = await stack.client.get(path, headers={"Authorization": f"Bearer {genuine}"})
            assert mine.status_code == 200, mine.text
            for name, token in forged.items():
                headers = {"Authorization": f"Bearer {token}"}
                read = await stack.client.get(path, headers=headers)
                sent = await stack.client.post(
                    "/api/v1/notifications/", json=stack.notification(user["id"]), headers=headers
                )
                assert read.status_code == sent.status_code == 401, (name, read.text, sent.text)

            # A Web Push endpoint on loopback or the private network is refused at
            # registration outside dev (and again at delivery: tests/integration).
            for endpoint in ("https://127.0.0.1/push", "https://192.168.1.10/push"):
                subscription, _, _ = browser_subscription(endpoint)
                refused = await stack.client.post(
                    f"{path}/devices",
                    json={"kind": "webpush", "subscription": subscription},
                    headers=stack.auth,
                )
                assert refused.status_code == 422, refused.text
                assert "private" in refused.json()["error"]

    def test_an_fcm_base_url_on_loopback_stops_the_push_worker(self, tmp_path: Path) -> None:
        credentials = tmp_path / "service-account.json"
        credentials.write_text('{"type": "service_account", "project_id": "p"}')
        env = environment(
            {
                "HERALD_JWT_SECRET": "security-test-secret-" + "s" * 40,
                "HERALD_HOME": str(tmp_path),
                "HERALD_FCM_BASE_URL": "https://127.0.0.1:9",
                "HERALD_FCM_CREDENTIALS_FILE": str(credentials),
            }
        )
        started = subprocess.run(
            [sys.executable, "-m", "herald", "worker", "push", "--port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert started.returncode == 2, started.stderr[-2000:]
        assert "HERALD_FCM_BASE_URL" in started.stderr and "loopback" in started.stderr
        assert "Traceback" not in started.stderr
