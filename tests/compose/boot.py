"""Boot compose.yaml for real: ``make compose-test`` (``python -m tests.compose.boot``).

Brings the whole stack up with ``docker compose up --build --wait`` under its own
project name, random secrets and free host ports; checks that every service is healthy,
that each one started only once what it depends on was healthy (or, for ``migrate``,
had finished successfully); sends a welcome email through the gateway and finds it in
Mailpit, and its webhook event at a receiver inside the stack; then ``docker compose
down -v``, whatever happened. Exits non-zero on failure.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from herald_client.webhooks import verify

from tests.compose import engine
from tests.compose.engine import log
from tests.compose.test_compose_files import COMPOSE, ROOT, resolved
from tests.e2e.processes import notification

PROJECT = "herald-boot"
# A webhook receiver inside the stack (and private addresses allowed to reach it).
RECEIVER = "tests/compose/receiver.yaml"
T = TypeVar("T")
UP_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_env(folder: Path) -> tuple[Path, dict[str, str]]:
    values = {
        name: secrets.token_hex(16)
        for name in (
            "POSTGRES_PASSWORD",
            "RABBITMQ_PASSWORD",
            "REDIS_PASSWORD",
            "HERALD_JWT_SECRET",
            "HERALD_BOOTSTRAP_API_KEY",
        )
    }
    values["HERALD_BOOTSTRAP_API_KEY"] = "hk_" + values["HERALD_BOOTSTRAP_API_KEY"]
    values["HERALD_BOOTSTRAP_ADMIN_EMAIL"] = "ops@example.com"
    values["HERALD_BOOTSTRAP_ADMIN_PASSWORD"] = secrets.token_hex(12)
    values["HERALD_GATEWAY_PORT"] = str(free_port())
    values["MAILPIT_UI_PORT"] = str(free_port())
    path = folder / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path, values


class Stack:
    def __init__(self, env: Path) -> None:
        self.base = [
            str(COMPOSE),
            "--project-directory",
            str(ROOT),
            "--env-file",
            str(env),
            "-p",
            PROJECT,
            "-f",
            str(ROOT / "compose.yaml"),
            "-f",
            str(ROOT / RECEIVER),
        ]

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        # Without buildx, Compose says so and builds with the engine's own builder.
        env = {**os.environ, "COMPOSE_BAKE": "false"}
        return subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=timeout, env=env
        )

    def up(self) -> None:
        result = self.compose(
            "up",
            "--build",
            "--wait",
            "--wait-timeout",
            str(UP_TIMEOUT),
            "--quiet-pull",
            timeout=UP_TIMEOUT + 900,
        )
        if result.returncode != 0:
            raise AssertionError(f"compose up failed:\n{result.stderr[-6000:]}")

    def containers(self) -> list[dict[str, Any]]:
        out = self.compose("ps", "-a", "--format", "json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def print_logs(self) -> None:
        print(self.compose("logs", "--no-color", "--tail", "150", timeout=300).stdout[-60000:])
        # What the health checks of the containers not healthy said, last tries first.
        for state in self.containers():
            if state.get("Health") not in ("healthy", ""):
                health = engine.run(
                    "docker",
                    "inspect",
                    "--format",
                    "{{json .State.Health}}",
                    state["ID"],
                    check=False,
                )
                print(f"{state['Service']} health: {health.stdout[-3000:]}")

    def down(self) -> None:
        result = self.compose("down", "-v", "--remove-orphans", timeout=300)
        if result.returncode != 0:
            log(f"compose down failed: {result.stderr[-2000:]}")
        # Each service's build leaves the previous herald:latest untagged; the stand-ins
        # and the current image stay as the next run's cache.
        label = f"label=com.docker.compose.project={PROJECT}"
        engine.run("docker", "image", "prune", "-f", "--filter", label, check=False)


class Events:
    """The engine's container events for this project, recorded while the stack boots."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            [
                "docker",
                "events",
                "--format",
                "{{json .}}",
                "--filter",
                "type=container",
                "--filter",
                f"label=com.docker.compose.project={PROJECT}",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.seen.append(json.loads(line))

    def stop(self) -> None:
        time.sleep(1)  # let the last events arrive
        self.process.terminate()
        self.process.wait(timeout=10)

    def first(self, service: str, action: str) -> dict[str, Any]:
        for event in self.seen:
            attributes = event["Actor"]["Attributes"]
            if attributes.get("com.docker.compose.service") == service and event[
                "Action"
            ].startswith(action):
                return event
        raise AssertionError(f"no {action!r} event for {service}")


def check_health(stack: Stack, services: dict[str, Any]) -> None:
    states = {c["Service"]: c for c in stack.containers()}
    assert set(states) == set(services), f"containers {sorted(states)} vs {sorted(services)}"
    for name, state in states.items():
        if name == "migrate":
            assert state["State"] == "exited" and state["ExitCode"] == 0, state
        else:
            assert state["State"] == "running" and state["Health"] == "healthy", state
    log(f"all {len(states) - 1} long-running services healthy; migrate exited 0")


def check_gating(events: Events, services: dict[str, Any]) -> None:
    """Every service started after what it depends on was healthy or had completed."""
    checked = 0
    for name, service in services.items():
        started = events.first(name, "start")["timeNano"]
        for dependency, rule in service.get("depends_on", {}).items():
            condition = rule["condition"]
            if condition == "service_healthy":
                ready = events.first(dependency, "health_status: healthy")
            elif condition == "service_completed_successfully":
                ready = events.first(dependency, "die")
                assert ready["Actor"]["Attributes"]["exitCode"] == "0", ready
            else:
                continue
            assert ready["timeNano"] < started, f"{name} started before {dependency} was ready"
            checked += 1
    log(f"health gating held for {checked} dependencies")


def deliver(values: dict[str, str], stack: Stack) -> None:
    """A welcome mail through the gateway into Mailpit, and its ``delivered`` event to
    the receiver inside the stack, signed."""
    gateway = f"http://127.0.0.1:{values['HERALD_GATEWAY_PORT']}"
    mailpit = f"http://127.0.0.1:{values['MAILPIT_UI_PORT']}"
    address = f"boot-{uuid.uuid4().hex[:8]}@example.com"
    auth = {"Authorization": f"Bearer {values['HERALD_BOOTSTRAP_API_KEY']}"}
    with httpx.Client(base_url=gateway, headers=auth, timeout=10) as client:
        endpoint = client.post(
            "/api/v1/webhooks/",
            json={"url": "http://webhook-receiver:9000/hook", "events": ["notification.delivered"]},
        )
        assert endpoint.status_code == 201, endpoint.text
        hook = endpoint.json()["data"]
        user = client.post(
            "/api/v1/users/",
            json={
                "name": "Ada",
                "email": address,
                "password": "correct horse battery",
                "preferences": {"email": True, "push": False},
            },
        )
        assert user.status_code == 201, user.text
        sent = client.post("/api/v1/notifications/", json=notification(user.json()["data"]["id"]))
        assert sent.status_code == 202, sent.text
        notification_id = sent.json()["data"]["notification_id"]
        status = poll(
            lambda: client.get(f"/api/v1/notifications/{notification_id}").json()["data"],
            done=lambda found: found["status"] in {"delivered", "failed"},
        )
        assert status["status"] == "delivered", status
        log(f"notification {notification_id} delivered")
        user_id = user.json()["data"]["id"]
        attempts = poll(
            lambda: client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["data"],
            done=bool,
        )
        assert [(a["outcome"], a["response_status"]) for a in attempts] == [("delivered", 204)]
    received = [
        json.loads(line.partition("RECEIVED ")[2])
        for line in stack.compose("logs", "--no-color", "webhook-receiver").stdout.splitlines()
        if "RECEIVED " in line
    ]
    assert len(received) == 1, received
    event = verify(
        hook["secret"], received[0]["headers"], base64.b64decode(received[0]["body"]), 600
    )
    assert event["type"] == "notification.delivered", event
    assert event["data"]["notification_id"] == notification_id, event
    log(f"the receiver inside the stack got {event['type']}, signed")
    with httpx.Client(base_url=mailpit, timeout=10) as client:
        messages = poll(
            lambda: [
                m
                for m in client.get("/api/v1/messages").json()["messages"]
                if address in [to["Address"] for to in m["To"]]
            ],
            done=bool,
        )
    assert messages, f"nothing for {address} in Mailpit"
    log(f"Mailpit holds it: {messages[0]['Subject']!r} to {address}")
    # The same user's feed, through the in-app worker's container (after the webhook
    # check above, which counts the one event it expects).
    with httpx.Client(base_url=gateway, headers=auth, timeout=10) as client:
        shown = client.post(
            "/api/v1/notifications/", json={**notification(user_id), "notification_type": "in_app"}
        )
        assert shown.status_code == 202, shown.text
        feed = poll(
            lambda: client.get(f"/api/v1/users/{user_id}/feed").json(),
            done=lambda found: bool(found["data"]),
        )
        assert feed["data"][0]["title"] == "Welcome, Ada!" and feed["meta"]["unread"] == 1
    log("in-app item in the user's feed")


def console(values: dict[str, str]) -> None:
    """The bootstrap admin signs in to the console (the users service checks the
    password over the network, the session lives in Redis) and sees the overview."""
    gateway = f"http://127.0.0.1:{values['HERALD_GATEWAY_PORT']}"
    with httpx.Client(base_url=gateway, timeout=10) as client:
        form = client.get("/console/login")
        token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
        signed = client.post(
            "/console/login",
            data={
                "login_token": token,
                "email": values["HERALD_BOOTSTRAP_ADMIN_EMAIL"],
                "password": values["HERALD_BOOTSTRAP_ADMIN_PASSWORD"],
            },
        )
        assert signed.status_code == 303, signed.text[:2000]
        overview = client.get("/console/")
        assert overview.status_code == 200 and "email.queue" in overview.text, overview.text[:2000]
    log("the admin signed in to the console and read the overview")


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 60) -> T:
    """``read()`` every half second until ``done`` says so or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def main() -> int:
    began = time.monotonic()
    with engine.engine(), tempfile.TemporaryDirectory(prefix="herald-boot-") as tmp:
        env, values = write_env(Path(tmp))
        services = resolved("compose.yaml", RECEIVER, env=env)["services"]
        images = {s["image"] for s in services.values() if "build" not in s}
        images.add(engine.python_image())
        for image in sorted(images):
            log(f"{image}: {engine.ensure(image)}")
        offline = engine.is_standin(engine.python_image())
        stack = Stack(env)
        with engine.wheelhouse() if offline else contextlib.nullcontext():
            stack.down()  # what an interrupted earlier run may have left
            events = Events()
            try:
                log("docker compose up --build --wait")
                stack.up()
                events.stop()
                check_health(stack, services)
                check_gating(events, services)
                deliver(values, stack)
                console(values)
            except BaseException:
                stack.print_logs()
                raise
            finally:
                if events.process.poll() is None:
                    events.stop()
                log("docker compose down -v")
                stack.down()
    log(f"passed in {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
