"""Concrete adapters, chosen by the URLs and modes in the settings. Each is imported
where it is chosen: a process holds only the code of the adapters it runs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from herald.config import PushMode, Settings
from herald.ports import (
    Broker,
    Cache,
    ChatTransport,
    EmailTransport,
    LedgerStore,
    PushTransport,
    RateLimiter,
    Signals,
    SmsTransport,
)

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncEngine

    from herald.adapters.capture import CaptureStore
    from herald.bootstrap.infra import Infra
    from herald.services.gateway.store import GatewayStore


def make_broker(settings: Settings) -> Broker:
    url = settings.broker_url
    # The embedded broker keeps its queue in SQLite; memory:// is its older name.
    if url.startswith(("embedded://", "sqlite://", "memory://")):
        from herald.adapters.broker.embedded import EmbeddedBroker

        return EmbeddedBroker(settings.home / "queue.db")
    if url.startswith(("amqp://", "amqps://")):
        from herald.adapters.broker.rabbitmq import RabbitBroker

        return RabbitBroker(url)
    raise ValueError("HERALD_BROKER_URL must be embedded:// or amqp://…")


def make_cache(settings: Settings) -> Cache:
    url = settings.redis_url
    if url.startswith("memory://"):
        from herald.adapters.cache.memory import MemoryCache

        return MemoryCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from herald.adapters.cache.redis import RedisCache

        return RedisCache(url, prefix=f"{settings.key_prefix}:")
    raise ValueError("HERALD_REDIS_URL must be memory:// or redis://…")


def make_signals(settings: Settings) -> Signals:
    # The same URL as the cache: make_cache has already refused any other scheme.
    if settings.redis_url.startswith("memory://"):
        from herald.adapters.signals.memory import MemorySignals

        return MemorySignals()
    from herald.adapters.signals.redis import RedisSignals

    return RedisSignals(settings.redis_url, prefix=f"{settings.key_prefix}:")


def make_rate_limiter(settings: Settings) -> RateLimiter:
    # The same URL as the cache: make_cache has already refused any other scheme.
    if settings.redis_url.startswith("memory://"):
        from herald.adapters.ratelimit.memory import MemoryRateLimiter

        return MemoryRateLimiter()
    from herald.adapters.ratelimit.redis import RedisRateLimiter

    return RedisRateLimiter(settings.redis_url, prefix=f"{settings.key_prefix}:limits")


async def open_broker(settings: Settings) -> Broker:
    """A started broker, for commands that need it connected before they act."""
    broker = make_broker(settings)
    await broker.start()
    from herald.adapters.broker.rabbitmq import RabbitBroker

    if isinstance(broker, RabbitBroker):
        async with asyncio.timeout(15):
            await broker.wait_connected()
    return broker


def make_gateway_store(engine: AsyncEngine) -> GatewayStore:
    """The gateway's storage: its own statements on PostgreSQL, SQLAlchemy elsewhere."""
    if engine.dialect.name == "postgresql":
        from herald.adapters.db.gateway_postgres import PostgresGatewayStore

        return PostgresGatewayStore(engine)
    from herald.adapters.db.gateway_sql import SqlGatewayStore

    return SqlGatewayStore(engine)


def make_ledger_store(engine: AsyncEngine, table: Table) -> LedgerStore:
    """A worker's delivery ledger, in ``table`` of its database."""
    if engine.dialect.name == "postgresql":
        from herald.adapters.db.ledger import PostgresLedgerStore

        return PostgresLedgerStore(engine, table)
    from herald.adapters.db.ledger import SqlLedgerStore

    return SqlLedgerStore(engine, table)


def make_email_transport(s: Settings, url: str) -> EmailTransport:
    """The SMTP transport to ``url`` (the configured relay, or ``herald dev``'s capture)."""
    from herald.adapters.email.smtp import SmtpTransport

    return SmtpTransport(
        url,
        pool_size=s.smtp_pool_size,
        timeout=s.smtp_timeout,
        data_timeout=s.smtp_data_timeout,
        ehlo_name=s.smtp_ehlo_name,
    )


def sms_transport(infra: Infra, capture: CaptureStore | None) -> tuple[SmsTransport, str | None]:
    """The SMS provider ``HERALD_SMS_URL`` names (``herald dev``'s capture when unset),
    and where it should post receipts."""
    s = infra.settings
    receipts = f"{s.public_url.rstrip('/')}/api/v1/sms/status"
    if s.sms_url is None:
        if not s.dev:
            raise ValueError("HERALD_SMS_URL is required for the sms worker")
        from herald.adapters.capture import CaptureStore
        from herald.adapters.sms.capture import CaptureSms

        return CaptureSms(capture or CaptureStore(s.home / "capture.db")), None
    http = infra.client(httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False))
    account = s.twilio
    if account is not None:
        from herald.adapters.sms.twilio import TwilioSms

        twilio = TwilioSms(
            http,
            account_sid=account.sid,
            auth_token=account.token,
            sender=s.sms_from,
            base_url=account.base_url,
        )
        return twilio, f"{receipts}/twilio"
    if urlsplit(s.sms_url).scheme in ("http", "https"):
        from herald.adapters.sms.http import HttpSms

        token = s.sms_token.get_secret_value() if s.sms_token else None
        return HttpSms(http, url=s.sms_url, sender=s.sms_from, token=token), f"{receipts}/"
    raise ValueError("HERALD_SMS_URL must be twilio://…, twilio+http://…, http://… or https://…")


def chat_transport(infra: Infra, capture: CaptureStore | None) -> ChatTransport:
    """Posts to the chats' webhooks; ``herald dev`` (push captured) captures chat too."""
    s = infra.settings
    if s.effective_push_mode is PushMode.CAPTURE:
        from herald.adapters.capture import CaptureStore
        from herald.adapters.chat.capture import CaptureChat

        return CaptureChat(capture or CaptureStore(s.home / "capture.db"))
    from herald.adapters.chat.webhooks import WebhookChatTransport

    http = infra.client(httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False))
    return WebhookChatTransport(http, allow_private=s.private_targets_allowed)


def push_transports(infra: Infra, capture: CaptureStore | None) -> dict[str, PushTransport]:
    s = infra.settings
    if s.effective_push_mode is PushMode.CAPTURE:
        from herald.adapters.capture import CaptureStore
        from herald.adapters.push.capture import CapturePushTransport

        if capture is None:
            capture = CaptureStore(s.home / "capture.db")
        transport = CapturePushTransport(capture)
        return {"webpush": transport, "fcm": transport}
    http = infra.client(httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False))
    found: dict[str, PushTransport] = {}
    if s.vapid_private_key is not None:
        from herald.adapters.push.webpush import WebPushTransport

        found["webpush"] = WebPushTransport(
            http,
            vapid_private_key=s.vapid_private_key.get_secret_value(),
            subject=s.vapid_subject,
            allow_private=s.private_targets_allowed,
        )
    if s.fcm_credentials_file is not None:
        from herald.adapters.push.fcm import FcmTransport
        from herald.domain import targets

        why = targets.check_endpoint(s.fcm_base_url, allow_private=s.private_targets_allowed)
        if why is not None:
            raise ValueError(f"HERALD_FCM_BASE_URL: {why}")
        found["fcm"] = FcmTransport(
            http, base_url=s.fcm_base_url, credentials_file=s.fcm_credentials_file
        )
    return found
