"""The herald command as an operator uses it: migrate, keys, vapid."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx

from herald.adapters.push.webpush import load_vapid
from tests.e2e.processes import environment


def herald(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "herald", *args],
        env=env,
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed, and said so in one line without a traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("herald: "), result.stderr
    return lines[0]


class TestCli:
    async def test_keys_are_created_listed_and_revoked(self, dev_factory, tmp_path: Path) -> None:
        dev = dev_factory()
        await dev.start()  # creates and migrates the database under --home
        env = environment(
            {
                "HERALD_DATABASE_URL": f"sqlite+aiosqlite:///{dev.home}/herald.db",
                "HERALD_JWT_SECRET": "cli-secret-" + "s" * 40,
            }
        )
        assert herald("migrate", env=env).returncode == 0
        created = herald("keys", "create", "--name", "shop", "--scope", "send", env=env)
        assert created.returncode == 0, created.stderr
        key = json.loads(created.stdout)
        assert key["key"].startswith("hk_") and key["scopes"] == ["send"]
        listed = json.loads(herald("keys", "list", env=env).stdout)
        assert {"shop", "bootstrap"} <= {k["name"] for k in listed}
        assert key["key"] not in json.dumps(listed)  # only a prefix is ever shown
        headers = {"Authorization": f"Bearer {key['key']}"}
        async with httpx.AsyncClient(base_url=dev.url) as client:
            assert (await client.get("/api/v1/notifications/", headers=headers)).status_code == 200
            assert herald("keys", "revoke", key["id"], env=env).returncode == 0
            await dev.process.wait_healthy()
            # The gateway keeps a verified key for at most 10 s.
            for _ in range(120):
                response = await client.get("/api/v1/notifications/", headers=headers)
                if response.status_code == 401:
                    break
                await asyncio.sleep(0.1)
            assert response.status_code == 401
        bad = herald("keys", "create", "--name", "x", "--scope", "root", env=env)
        assert bad.returncode != 0 and "unknown scope" in bad.stderr

    async def test_create_admin_makes_a_console_admin(self, dev_factory) -> None:
        dev = dev_factory()
        await dev.start()
        # The dev banner names the console and the admin it made.
        banner = dev.process.log.read_text()
        password = (dev.home / "admin_password").read_text().strip()
        assert "/console/" in banner and f"admin@example.com / {password}" in banner
        env = environment(
            {
                "HERALD_DATABASE_URL": f"sqlite+aiosqlite:///{dev.home}/herald.db",
                "HERALD_ADMIN_PASSWORD": "a-long-password",
            }
        )
        made = herald("users", "create-admin", "--email", "Ops@Example.com", env=env)
        assert made.returncode == 0, made.stderr
        first = json.loads(made.stdout)
        assert first["created"] is True and first["role"] == "admin"
        assert first["email"] == "ops@example.com"
        again = json.loads(
            herald("users", "create-admin", "--email", "ops@example.com", env=env).stdout
        )
        assert again == {**first, "created": False}
        async with httpx.AsyncClient(base_url=dev.url) as client:
            login = await client.post(
                "/api/v1/auth/login",
                json={"email": "ops@example.com", "password": "a-long-password"},
            )
            assert login.status_code == 200
        short = herald(
            "users", "create-admin", "--email", "x@example.com", "--password", "short", env=env
        )
        assert "password" in one_line_error(short)

    def test_vapid_generate_prints_a_usable_private_key(self) -> None:
        result = herald("vapid", "generate", env=environment({}))
        assert result.returncode == 0
        vapid = load_vapid(result.stdout)  # as HERALD_VAPID_PRIVATE_KEY is read
        signed = vapid.sign({"aud": "https://push.example.com", "sub": "mailto:a@b.co"})
        assert signed["Authorization"].startswith("vapid t=")


class TestOperatorCommands:
    async def test_status_shows_the_lifecycle_and_dlq_lists(self, dev_factory) -> None:
        dev = dev_factory()
        await dev.start()
        key = dev.auth["Authorization"].removeprefix("Bearer ")
        env = environment(
            {
                "HERALD_MODE": "dev",
                "HERALD_HOME": str(dev.home),
                "HERALD_API_KEY": key,
                "HERALD_API_URL": dev.url,
            }
        )
        sent = herald("send", "--email", "ops@example.com", env=env)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        nid = sent.stdout.split()[1]
        shown = herald("status", nid, env=env)
        assert shown.returncode == 0, shown.stderr
        assert "delivered" in shown.stdout and "pending" in shown.stdout
        listed = herald("dlq", "list", env=env)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []
        refused = herald("dlq", "purge", env=env)
        assert refused.returncode != 0 and "--yes" in refused.stderr
        assert herald("healthcheck", "--port", str(dev.port), env=env).returncode == 0
        dev.process.stop()
        assert herald("healthcheck", "--port", str(dev.port), env=env).returncode == 1

    def test_a_setting_it_cannot_use_stops_it_with_the_variable_named(self) -> None:
        env = environment(
            {
                "HERALD_JWT_SECRET": "cli-secret-" + "s" * 40,
                "HERALD_RATE_LIMIT_PER_KEY": "1000 a second",
            }
        )
        started = herald("serve", "gateway", "--port", "1", env=env)
        assert started.returncode == 2
        assert started.stderr.startswith("herald: configuration error: HERALD_RATE_LIMIT_PER_KEY:")
        assert "Traceback" not in started.stderr


class TestFirstMinutes:
    def test_version(self) -> None:
        shown = herald("--version", env=environment({}))
        assert shown.returncode == 0 and shown.stdout.startswith("herald ")

    def test_keys_derive_prints_a_workers_signing_keys(self) -> None:
        env = environment({"HERALD_JWT_SECRET": "cli-secret-" + "s" * 40})
        derived = herald("keys", "derive", "email_worker", env=env)
        assert derived.returncode == 0, derived.stderr
        line = derived.stdout.strip()
        assert line.startswith("HERALD_SIGNING_KEYS=service tokens of email_worker=")
        assert "unsubscribe links=" in line and "cli-secret" not in line
        assert "HERALD_JWT_SECRET" in one_line_error(
            herald("keys", "derive", "email_worker", env=environment({}))
        )

    def test_commands_against_nothing_fail_in_one_line(self, tmp_path: Path) -> None:
        env = environment({})  # no HERALD_JWT_SECRET: key commands do not need it
        # Given a folder where Herald never ran
        empty = tmp_path / "fresh"
        empty.mkdir()
        listed = herald("keys", "list", env=env, cwd=empty)
        assert "herald migrate" in one_line_error(listed)
        assert list(empty.iterdir()) == []  # and nothing was made there
        down = {"HERALD_API_URL": "http://127.0.0.1:9", "HERALD_API_KEY": "hk_x"}
        status = herald("status", "abc", env=environment(down))
        assert "cannot reach Herald" in one_line_error(status)
        pasted = herald("send", "--api-key", "hk_…", "--email", "a@b.co", env=environment({}))
        assert "paste the key" in one_line_error(pasted)
        revoked = herald("keys", "revoke", "not-an-id", env=env, cwd=empty)
        assert revoked.returncode != 0 and "Traceback" not in revoked.stderr

    async def test_send_says_what_went_wrong_and_exits_non_zero(self, dev_factory) -> None:
        dev = dev_factory()
        await dev.start()
        env = environment({"HERALD_API_URL": dev.url})
        refused = herald("send", "--api-key", "hk_not_a_key", "--email", "a@b.co", env=env)
        assert "401: the API key was refused" in one_line_error(refused)
        key = dev.auth["Authorization"].removeprefix("Bearer ")
        pending = herald("send", "--api-key", key, "--email", "a@b.co", "--wait", "0", env=env)
        assert "still pending" in one_line_error(pending)
        async with httpx.AsyncClient(base_url=dev.url) as client:
            index = (await client.get("/api/v1/")).json()["data"]
        assert index["name"] == "Herald"
        assert index["links"]["docs"] == f"{dev.url}/docs"
        assert index["links"]["inbox"] == f"{dev.url}/dev/inbox"

    async def test_dev_on_a_taken_port_fails_before_its_banner(self, dev_factory) -> None:
        dev = dev_factory()
        await dev.start()
        env = environment({"HERALD_DEV_SMTP_PORT": "0"})
        second = herald("dev", "--port", str(dev.port), "--home", str(dev.home), env=env)
        assert f"cannot listen on 127.0.0.1:{dev.port}" in one_line_error(second)
        assert "API key" not in second.stdout

    async def test_dev_keeps_its_smtp_port_or_says_why(self, dev_factory, tmp_path: Path) -> None:
        dev = dev_factory()
        await dev.start()
        smtp = dev.process.env["HERALD_DEV_SMTP_PORT"]
        env = environment({"HERALD_DEV_SMTP_PORT": smtp})
        other = herald("dev", "--port", "0", "--home", str(tmp_path / "other"), env=env)
        assert f"SMTP capture cannot listen on 127.0.0.1:{smtp}" in one_line_error(other)
