"""Each service process imports only what it runs: a service built on its own must not
pull in the other services' code or adapters (every module costs memory in every
container)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
from herald.config import Settings
from herald import bootstrap
settings = Settings(
    database_url="postgresql+asyncpg://postgres@127.0.0.1/probe_{service}",
    broker_url="amqp://guest:guest@127.0.0.1/",
    redis_url="redis://127.0.0.1:6379/0",
    smtp_url="smtp://127.0.0.1:25",
    jwt_secret="s" * 40,
)
bootstrap.service_app(sys.argv[1], settings)
print(json.dumps(sorted(sys.modules)))
"""

# What a service must not load: the others' code and the adapters only they use (the
# users and templates services publish nothing, so they need no broker client).
_SMTP, _LIMITS = "herald.adapters.email.smtp", "herald.adapters.ratelimit"
_FOREIGN = {
    "gateway": ["herald.delivery.worker", "herald.services.users", _SMTP, "argon2", "jinja2"],
    # (the users service throttles failed logins, so it has a rate limiter)
    "users": ["herald.services.gateway", "herald.delivery.worker", "jinja2", "aio_pika"],
    "templates": ["herald.services.gateway", "herald.services.users", _SMTP, "argon2", "aio_pika"],
    "email_worker": ["herald.services.gateway", "herald.services.users", "http_ece", _LIMITS],
    "push_worker": ["herald.services.gateway", _SMTP, "aiosmtpd", "argon2", _LIMITS],
}
# No service needs a general JWT library, and only Web Push signs and encrypts with
# elliptic curves (the gateway derives the VAPID public key it hands out).
for _service, _foreign in _FOREIGN.items():
    _foreign.append("jwt")
    if _service in ("users", "templates", "email_worker"):
        _foreign.append("cryptography.hazmat")


@pytest.mark.parametrize("service", sorted(_FOREIGN))
def test_a_service_loads_only_its_own_code(service: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, service], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert f"herald.services.{service}" in loaded
    leaked = [m for m in _FOREIGN[service] if any(x == m or x.startswith(m + ".") for x in loaded)]
    assert not leaked, f"{service} imports {leaked}"
