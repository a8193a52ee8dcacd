"""The one settings object. Nothing else in Herald reads the environment.

Names follow SPEC.md §2 exactly (``HERALD_DATABASE_URL``, ``HERALD_RETRY_MAX_ATTEMPTS``…),
which is why the settings are flat rather than nested sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from herald.domain.ratelimits import Rule
from herald.domain.webhooks import RetrySchedule

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev-only-secret"}
DEV_JWT_SECRET = "dev-only-secret"
# What every placeholder in .env.example says; a value holding it was never changed.
PLACEHOLDER_MARK = "change-this"
# HMAC-SHA256 keys shorter than the hash are weaker than it (RFC 2104 §3).
MIN_SECRET_BYTES = 32
# Every API key starts with this, which is how a bearer token is told from a JWT.
API_KEY_PREFIX = "hk_"
# What an API key may be allowed: everything, sending, or reporting outcomes.
API_KEY_SCOPES = ("admin", "send", "status")


class Mode(StrEnum):
    DEV = "dev"
    SERVICE = "service"


class PushMode(StrEnum):
    CAPTURE = "capture"
    DELIVER = "deliver"


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    sid: str
    token: str
    base_url: str


def _origins(value: str) -> list[str]:
    """Comma-separated origins, each without a trailing slash."""
    return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]


class Settings(BaseSettings):
    # An empty variable counts as unset: Compose passes ``${HERALD_X:-}`` as "".
    model_config = SettingsConfigDict(
        env_prefix="HERALD_",
        env_file=".env",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
    )

    mode: Mode = Mode.SERVICE
    home: Path = Path(".herald")

    # Backends are chosen by URL (SPEC.md §2). ``{service}`` in the database URL is
    # replaced by the owning service's name, which gives each service its own database.
    # Unset: a SQLite file in ``home``.
    database_url: str | None = None
    # PostgreSQL is reached through a pooler in transaction mode (PgBouncer's
    # pool_mode = transaction): no prepared statement outlives its transaction.
    database_transaction_pooling: bool = False
    broker_url: str = "embedded://"
    redis_url: str = "memory://"
    # Prefix of every Redis key, so that several installations (or tests) can share one Redis.
    key_prefix: str = "herald"
    smtp_url: str | None = None

    host: str = "127.0.0.1"
    port: int | None = None
    public_url: str = "http://127.0.0.1:8000"
    users_url: str = "http://127.0.0.1:8001"
    templates_url: str = "http://127.0.0.1:8002"

    bootstrap_api_key: SecretStr | None = None
    # The console's admin, made at start if missing (herald dev makes one when unset).
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    # How long a console sign-in lasts without use.
    console_session_seconds: int = Field(default=8 * 3600, ge=1)
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    # Instead of the secret, for a worker: only the keys it signs with
    # (``herald keys derive email_worker``).
    signing_keys: SecretStr | None = None
    jwt_ttl_seconds: int = 3600

    retry_max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_delay: float = Field(default=2.0, gt=0)
    retry_max_delay: float = Field(default=900.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    worker_prefetch: int = Field(default=32, ge=1, le=1000)

    rate_limit_per_key: str = "1000/second"
    rate_limit_per_recipient: str = "20/minute"
    # Failed logins (a successful one is not counted), per account and per client address.
    login_failures_per_account: str = "10 per 15 minutes"
    login_failures_per_address: str = "100 per 15 minutes"
    max_body_bytes: int = 256 * 1024
    # A batch of up to 1,000 notifications (POST /api/v1/notifications/batch).
    max_batch_body_bytes: int = 4 * 1024 * 1024
    # Subscribers a topic send's fan-out reads, and children it stores, per transaction.
    fanout_page_size: int = Field(default=1000, ge=1, le=10_000)
    # The longest the scheduler sleeps without looking for due work (it sleeps until
    # the next due time it knows of, and is woken by work stored in its process).
    scheduler_idle_seconds: float = Field(default=2.0, gt=0, le=60)
    # Past this many requests in progress the gateway answers 503 at once: a backlog
    # that only grows costs memory and makes every caller wait (docs/operations.md).
    max_in_flight: int = Field(default=512, ge=1)
    cache_ttl_seconds: int = 60
    # Notifications in a final status, and their history, are removed this many days
    # after they were accepted; unset, they are kept.
    retention_days: int | None = Field(default=None, ge=1)
    # In-app feeds: the event streams one gateway process holds open at most, and the
    # sites (origins, comma-separated) whose pages may read feeds from the browser.
    feed_max_streams: int = Field(default=10_000, ge=1)
    feed_origins: str = ""

    email_from: str = "Herald <herald@localhost>"
    smtp_pool_size: int = Field(default=4, ge=1, le=64)
    smtp_timeout: float = Field(default=10.0, gt=0)
    # RFC 5321 §4.5.3.2.6: the reply to the end of a message may take 10 minutes.
    smtp_data_timeout: float = Field(default=600.0, gt=0)
    # What Herald calls itself in EHLO/HELO: a domain name or an address literal.
    smtp_ehlo_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.\-\[\]:]{1,255}$")
    dev_smtp_port: int = 1025

    # Text messages: twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com (twilio+http:// for a
    # stand-in), or the http(s) URL of a provider that takes Herald's JSON. Unset in dev:
    # captured for the dev inbox.
    sms_url: str | None = None
    # The sender: a number in E.164, an alphanumeric sender id, or a Twilio Messaging
    # Service (MG…).
    sms_from: str = "Herald"
    # The bearer token of an http(s) SMS provider.
    sms_token: SecretStr | None = None

    push_mode: PushMode | None = None
    vapid_private_key: SecretStr | None = None
    vapid_subject: str = "mailto:admin@localhost"
    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_credentials_file: Path | None = None
    allow_private_targets: bool | None = None

    # Seconds to wait after each failed webhook attempt; after the last, the event is
    # failed (SPEC.md §6.3).
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)
    # An endpoint whose every attempt failed for this long is disabled (5 days).
    webhook_disable_after_seconds: float = Field(default=5 * 24 * 3600.0, gt=0)
    # Attempts under way at once to one endpoint, and in all: a slow endpoint fills
    # only its own slots.
    webhook_concurrency_per_endpoint: int = Field(default=16, ge=1, le=256)
    webhook_max_in_flight: int = Field(default=512, ge=1, le=10_000)
    # The longest the worker waits without looking for due deliveries.
    webhook_idle_seconds: float = Field(default=0.5, gt=0, le=60)
    # When set (host names or addresses, comma-separated), the only hosts webhooks may
    # go to: egress kept to known receivers.
    webhook_allowed_hosts: str = ""

    # The standard OpenTelemetry variable (no HERALD_ prefix): tracing is off without it.
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_ENDPOINT", "HERALD_OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
    )

    log_json: bool = False
    log_level: str = "info"

    @property
    def dev(self) -> bool:
        return self.mode is Mode.DEV

    @property
    def effective_push_mode(self) -> PushMode:
        if self.push_mode is not None:
            return self.push_mode
        return PushMode.CAPTURE if self.dev else PushMode.DELIVER

    @property
    def webhook_hosts(self) -> frozenset[str]:
        return frozenset(
            h.strip().strip("[]").lower()
            for h in self.webhook_allowed_hosts.split(",")
            if h.strip()
        )

    @property
    def feed_origin_list(self) -> list[str]:
        return _origins(self.feed_origins)

    @field_validator("feed_origins")
    @classmethod
    def _readable_origins(cls, value: str) -> str:
        for origin in _origins(value):
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])")
        return value

    @property
    def private_targets_allowed(self) -> bool:
        if self.allow_private_targets is not None:
            return self.allow_private_targets
        return self.dev

    def database_url_for(self, service: str) -> str:
        url = self.database_url or f"sqlite+aiosqlite:///{self.home}/herald.db"
        return url.replace("{service}", service)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _readable_schedule(cls, value: str) -> str:
        RetrySchedule.parse(value)
        return value

    @field_validator(
        "rate_limit_per_key",
        "rate_limit_per_recipient",
        "login_failures_per_account",
        "login_failures_per_address",
    )
    @classmethod
    def _readable_rule(cls, value: str) -> str:
        Rule.parse(value)  # refused at start, not on the first request
        return value

    @model_validator(mode="after")
    def _refuse_bad_secrets(self) -> Self:
        bootstrap = self.bootstrap_api_key
        if not self.dev:
            self._refuse_placeholders()
        if bootstrap is not None and not bootstrap.get_secret_value().startswith(API_KEY_PREFIX):
            raise ValueError(f"HERALD_BOOTSTRAP_API_KEY must start with {API_KEY_PREFIX!r}")
        admin = self.bootstrap_admin_password
        if self.bootstrap_admin_email is not None and (
            admin is None or len(admin.get_secret_value()) < 8
        ):
            raise ValueError(
                "HERALD_BOOTSTRAP_ADMIN_PASSWORD must be set, at least 8 characters, "
                "with HERALD_BOOTSTRAP_ADMIN_EMAIL"
            )
        return self

    @property
    def twilio(self) -> TwilioAccount | None:
        """``sms_url`` read as Twilio's account, when it names Twilio: what the SMS
        worker sends with and what the gateway checks receipts against."""
        url = urlsplit(self.sms_url or "")
        if url.scheme not in ("twilio", "twilio+http"):
            return None
        if not url.username or not url.password:
            raise ValueError("HERALD_SMS_URL: twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com")
        scheme = "http" if url.scheme == "twilio+http" else "https"
        return TwilioAccount(
            sid=unquote(url.username),
            token=unquote(url.password),
            base_url=f"{scheme}://{url.hostname}{f':{url.port}' if url.port else ''}",
        )

    def _refuse_placeholders(self) -> None:
        # A placeholder or short signing key outside dev mode would let anyone mint
        # tokens; a value copied from .env.example unchanged is a placeholder too.
        secret = self.jwt_secret.get_secret_value()
        # A worker given only its keys holds no secret to check.
        if self.signing_keys is None or secret != DEV_JWT_SECRET:
            if secret in PLACEHOLDER_SECRETS or PLACEHOLDER_MARK in secret:
                raise ValueError(f"HERALD_JWT_SECRET must be set to a real secret ({_GENERATE})")
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"HERALD_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes ({_GENERATE})"
                )
        shipped = {
            "HERALD_BOOTSTRAP_API_KEY": self.bootstrap_api_key.get_secret_value()
            if self.bootstrap_api_key
            else "",
            "HERALD_BOOTSTRAP_ADMIN_PASSWORD": self.bootstrap_admin_password.get_secret_value()
            if self.bootstrap_admin_password
            else "",
            "HERALD_DATABASE_URL": self.database_url or "",
            "HERALD_BROKER_URL": self.broker_url,
            "HERALD_REDIS_URL": self.redis_url,
        }
        for name, value in shipped.items():
            if PLACEHOLDER_MARK in value:
                raise ValueError(f"{name} still holds a placeholder from .env.example")


_GENERATE = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def dev_settings(**overrides: object) -> Settings:
    """Settings for ``herald dev``: embedded backends under ``./.herald/``."""
    values: dict[str, object] = {"mode": Mode.DEV}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
