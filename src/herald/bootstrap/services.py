"""Each service built from its adapters: one per process (``service_app``), or all of
them in one (``all_in_one``). Each service's modules are imported in the function that
builds it, not here: a process then holds only the code it runs (each service in its
own process is about 10 MB smaller), and ``herald dev`` still imports them all."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import httpx
from fastapi import FastAPI
from sqlalchemy import Table

from herald.bootstrap.adapters import (
    make_email_transport,
    make_gateway_store,
    make_ledger_store,
    make_rate_limiter,
    push_transports,
)
from herald.bootstrap.infra import Infra, asgi_client, http_client
from herald.bootstrap.lifecycle import before_start, own
from herald.config import Settings
from herald.domain.clock import Clock, SystemClock
from herald.domain.ratelimits import Rule
from herald.kit import tracing
from herald.kit.db import HeraldBase
from herald.ports import EmailTransport, SmsReceipts, TargetCheck, WebhookTransport

if TYPE_CHECKING:
    from herald.adapters.capture import CaptureStore
    from herald.services.email_worker.sender import EmailSender
    from herald.services.gateway.feed.sender import InAppSender
    from herald.services.push_worker.chat import ChatSender
    from herald.services.push_worker.sender import PushSender
    from herald.services.push_worker.sms import SmsSender


def users_app(infra: Infra) -> FastAPI:
    from herald.services.users import app as users
    from herald.services.users.handlers import UsersContext

    s = infra.settings
    limiter = make_rate_limiter(s)
    infra.on_close(limiter.close)
    ctx = UsersContext(
        cache=infra.cache,
        keys=infra.keys,
        jwt_ttl=s.jwt_ttl_seconds,
        allow_private_targets=s.private_targets_allowed,
        limiter=limiter,
        login_per_account=Rule.parse(s.login_failures_per_account),
        login_per_address=Rule.parse(s.login_failures_per_address),
    )
    app = users.build(
        engine=infra.engine("users"),
        database=infra.database_check("users"),
        ctx=ctx,
        max_body_bytes=s.max_body_bytes,
    )
    if s.bootstrap_admin_email and s.bootstrap_admin_password:
        from herald.kit.db import sessionmaker
        from herald.services.users import admins

        body = admins.admin_body(
            s.bootstrap_admin_email, s.bootstrap_admin_password.get_secret_value()
        )
        sessions = sessionmaker(infra.engine("users"))

        async def ensure_admin() -> None:
            await admins.bootstrap(sessions, body)

        before_start(app, ensure_admin)
    return app


def templates_app(infra: Infra) -> FastAPI:
    from herald.services.templates import app as templates
    from herald.services.templates.handlers import TemplatesContext

    s = infra.settings
    return templates.build(
        engine=infra.engine("templates"),
        database=infra.database_check("templates"),
        ctx=TemplatesContext(cache=infra.cache),
        keys=infra.keys,
        max_body_bytes=s.max_body_bytes,
    )


def _vapid_public_key(settings: Settings) -> str | None:
    if settings.vapid_private_key is None:
        return None
    from herald.adapters.push.webpush import public_key

    return public_key(settings.vapid_private_key.get_secret_value())


def gateway_app(
    infra: Infra,
    users_http: httpx.AsyncClient,
    templates_http: httpx.AsyncClient,
    clock: Clock | None = None,
) -> FastAPI:
    from herald.kit.db import sessionmaker
    from herald.services.gateway import app as gateway
    from herald.services.gateway.clients import Directory
    from herald.services.gateway.context import GatewayContext
    from herald.services.gateway.fanout import Fanout
    from herald.services.gateway.feed.hub import FeedHub
    from herald.services.gateway.feed.store import FeedStore
    from herald.services.gateway.intake import Intake
    from herald.services.gateway.keys import KeyVerifier
    from herald.services.gateway.relay import OutboxRelay
    from herald.services.gateway.retention import Retention
    from herald.services.gateway.scheduler import Scheduler
    from herald.services.gateway.status_events import StatusApplier

    s = infra.settings
    sessions = sessionmaker(infra.engine("gateway"))
    directory = Directory(
        infra.service(users_http, "users", "gateway"),
        infra.service(templates_http, "templates", "gateway"),
        infra.cache,
        ttl=s.cache_ttl_seconds,
    )
    limiter = make_rate_limiter(s)
    infra.on_close(limiter.close)
    store = make_gateway_store(infra.engine("gateway"))
    relay = OutboxRelay(store, infra.broker)
    clock = clock or SystemClock()
    fanout: Fanout | None = None
    scheduler = Scheduler(
        store,
        clock,
        on_queued=relay.wake,
        on_backlog=relay.give_way,
        on_topics=lambda: fanout.wake() if fanout else None,
        idle_seconds=s.scheduler_idle_seconds,
    )
    fanout = Fanout(
        store,
        directory,
        relay,
        clock=clock,
        on_scheduled=scheduler.wake,
        page_size=s.fanout_page_size,
    )
    ctx = GatewayContext(
        sessions=sessions,
        broker=infra.broker,
        directory=directory,
        limiter=limiter,
        keys=KeyVerifier(sessions),
        relay=relay,
        intake=Intake(store, relay, on_scheduled=scheduler.wake),
        statuses=StatusApplier(store, infra.broker),
        fanout=fanout,
        scheduler=scheduler,
        clock=clock,
        signing=infra.keys,
        feeds=FeedStore(sessions),
        hub=FeedHub(infra.signals, max_streams=s.feed_max_streams),
        feed_origins=s.feed_origin_list,
        rate_limit_per_key=Rule.parse(s.rate_limit_per_key),
        rate_limit_per_recipient=Rule.parse(s.rate_limit_per_recipient),
        public_url=s.public_url,
        vapid_public_key=_vapid_public_key(s),
        allow_private_targets=s.private_targets_allowed,
        webhook_target_check=webhook_target_check(s),
        console_session_seconds=s.console_session_seconds,
        sms_receipts=_sms_receipts(s),
        retention=None
        if s.retention_days is None
        else Retention(sessions, clock, days=s.retention_days),
    )
    app = gateway.build(
        database=infra.database_check("gateway"),
        ctx=ctx,
        max_body_bytes=s.max_body_bytes,
        max_in_flight=s.max_in_flight,
        max_batch_body_bytes=s.max_batch_body_bytes,
    )
    if s.bootstrap_api_key is not None:
        key = s.bootstrap_api_key.get_secret_value()

        from herald.services.gateway import keys

        async def ensure_key() -> None:
            await keys.bootstrap(sessions, key)

        before_start(app, ensure_key)
    return app


def _sms_receipts(settings: Settings) -> SmsReceipts | None:
    account = settings.twilio
    if account is None:
        return None
    from herald.adapters.sms.twilio import TwilioReceipts

    return TwilioReceipts(account.token)


def webhook_target_check(settings: Settings) -> TargetCheck:
    from herald.adapters.webhooks.http import why_refused

    allow, hosts = settings.private_targets_allowed, settings.webhook_hosts

    async def check(url: str) -> str | None:
        return await why_refused(url, allow_private=allow, allowed_hosts=hosts)

    return check


def webhook_worker_app(
    infra: Infra, transport: WebhookTransport | None = None, clock: Clock | None = None
) -> FastAPI:
    from datetime import timedelta

    from herald.adapters.webhooks.http import HttpWebhookTransport
    from herald.domain.webhooks import RetrySchedule
    from herald.kit.db import sessionmaker
    from herald.services.gateway.webhooks import app as webhook_worker
    from herald.services.gateway.webhooks.worker import WebhookWorker

    s = infra.settings
    if transport is None:
        transport = HttpWebhookTransport(
            timeout=s.webhook_timeout,
            allow_private=s.private_targets_allowed,
            allowed_hosts=s.webhook_hosts,
        )
    worker = WebhookWorker(
        sessionmaker(infra.engine("gateway")),
        transport,
        RetrySchedule.parse(s.webhook_retry_schedule),
        timeout=s.webhook_timeout,
        disable_after=timedelta(seconds=s.webhook_disable_after_seconds),
        per_endpoint=s.webhook_concurrency_per_endpoint,
        in_flight=s.webhook_max_in_flight,
        idle_seconds=s.webhook_idle_seconds,
        clock=clock,
    )
    return webhook_worker.build(worker=worker, database=infra.database_check("gateway"))


def _worker(
    infra: Infra,
    service: str,
    sender: EmailSender | PushSender | SmsSender | ChatSender | InAppSender,
    templates_http: httpx.AsyncClient,
    ledger_model: type[HeraldBase],
    mode_of: str | None = None,
    database: str | None = None,
) -> FastAPI:
    """``mode_of``: the worker this one is a mode of, whose database, ledger and
    signing key it uses; ``database``: whose database it uses, if not its own."""
    identity = mode_of or service
    database = database or identity
    from herald.delivery.ledger import Ledger
    from herald.delivery.templates import TemplateSource
    from herald.delivery.worker import DeliveryWorker, worker_app
    from herald.domain.breaker import BreakerBoard
    from herald.domain.retry import RetryPolicy
    from herald.kit.breakers import BreakerReport

    s = infra.settings
    ledger_table = cast(Table, ledger_model.__table__)
    worker = DeliveryWorker(
        sender=sender,
        broker=infra.broker,
        templates=TemplateSource(infra.service(templates_http, "templates", identity), infra.cache),
        ledger=Ledger(make_ledger_store(infra.engine(database), ledger_table)),
        policy=RetryPolicy(s.retry_max_attempts, s.retry_base_delay, s.retry_max_delay),
        breakers=BreakerBoard(s.breaker_failure_threshold, s.breaker_reset_seconds),
        prefetch=s.worker_prefetch,
    )
    infra.on_close(worker.stop)
    return worker_app(
        service=service,
        worker=worker,
        database=infra.database_check(database),
        report=BreakerReport(infra.cache, sender.channel, worker.breakers),
    )


def email_worker_app(
    infra: Infra, templates_http: httpx.AsyncClient, transport: EmailTransport | None = None
) -> FastAPI:
    from herald.services.email_worker.models import EmailDelivery
    from herald.services.email_worker.sender import EmailSender

    s = infra.settings
    if transport is None:
        if s.smtp_url is None:
            raise ValueError("HERALD_SMTP_URL is required for the email worker")
        transport = make_email_transport(s, s.smtp_url)
    infra.on_close(transport.close)
    sender = EmailSender(
        transport,
        sender=s.email_from,
        public_url=s.public_url,
        unsubscribe_key=infra.keys.unsubscribe,
    )
    return _worker(infra, "email_worker", sender, templates_http, EmailDelivery)


def push_worker_app(
    infra: Infra,
    templates_http: httpx.AsyncClient,
    users_http: httpx.AsyncClient,
    capture: CaptureStore | None = None,
) -> FastAPI:
    from herald.services.push_worker.models import PushDelivery
    from herald.services.push_worker.sender import PushSender

    sender = PushSender(
        push_transports(infra, capture), infra.service(users_http, "users", "push_worker")
    )
    return _worker(infra, "push_worker", sender, templates_http, PushDelivery)


def sms_worker_app(
    infra: Infra, templates_http: httpx.AsyncClient, capture: CaptureStore | None = None
) -> FastAPI:
    """``herald worker sms``: a mode of the push worker (its database and ledger)."""
    from herald.bootstrap.adapters import sms_transport
    from herald.services.push_worker.models import PushDelivery
    from herald.services.push_worker.sms import SmsSender

    transport, receipts = sms_transport(infra, capture)
    infra.on_close(transport.close)
    sender = SmsSender(transport, status_callback=receipts)
    return _worker(infra, "sms_worker", sender, templates_http, PushDelivery, "push_worker")


def chat_worker_app(
    infra: Infra,
    templates_http: httpx.AsyncClient,
    users_http: httpx.AsyncClient,
    capture: CaptureStore | None = None,
) -> FastAPI:
    """``herald worker chat``: a mode of the push worker (its database and ledger)."""
    from herald.bootstrap.adapters import chat_transport
    from herald.services.push_worker.chat import ChatSender
    from herald.services.push_worker.models import PushDelivery

    transport = chat_transport(infra, capture)
    infra.on_close(transport.close)
    sender = ChatSender(transport, infra.service(users_http, "users", "push_worker"))
    return _worker(infra, "chat_worker", sender, templates_http, PushDelivery, "push_worker")


def in_app_worker_app(infra: Infra, templates_http: httpx.AsyncClient) -> FastAPI:
    """``herald worker in_app``: stores each in-app notification in its user's feed,
    on the gateway's database (where the feed API reads it), and signals the gateways'
    streams."""
    from herald.kit.db import sessionmaker
    from herald.services.gateway.feed.sender import InAppSender
    from herald.services.gateway.feed.store import FeedStore
    from herald.services.gateway.models import InAppDelivery

    feeds = FeedStore(sessionmaker(infra.engine("gateway")))
    sender = InAppSender(feeds, infra.signals)
    return _worker(
        infra, "in_app_worker", sender, templates_http, InAppDelivery, database="gateway"
    )


def all_in_one(
    settings: Settings,
    *,
    email: EmailTransport | None = None,
    capture: CaptureStore | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Every service in one process, reaching each other in-process: what ``herald dev``
    runs (on embedded adapters) and what integration tests run (on the real servers).
    ``clock``: what decides when scheduled work is due (tests give one they move)."""
    tracing.configure("dev", endpoint=settings.otel_exporter_otlp_endpoint)
    infra = Infra(settings)
    users = users_app(infra)
    templates = templates_app(infra)
    gateway = gateway_app(
        infra, asgi_client(users, "users"), asgi_client(templates, "templates"), clock
    )
    email_worker = email_worker_app(infra, asgi_client(templates, "templates"), email)
    push_worker = push_worker_app(
        infra, asgi_client(templates, "templates"), asgi_client(users, "users"), capture
    )
    webhook_worker = webhook_worker_app(infra, clock=clock)
    chat_worker = chat_worker_app(
        infra, asgi_client(templates, "templates"), asgi_client(users, "users"), capture
    )
    workers = {
        "email": email_worker,
        "push": push_worker,
        "webhooks": webhook_worker,
        "chat": chat_worker,
        "in_app": in_app_worker_app(infra, asgi_client(templates, "templates")),
    }
    if settings.dev or settings.sms_url:  # otherwise texts wait in sms.queue
        workers["sms"] = sms_worker_app(infra, asgi_client(templates, "templates"), capture)
    # One port in this mode: the workers' /ready and /metrics live under /workers/….
    for name, worker in workers.items():
        gateway.mount(f"/workers/{name}", worker)
    own(gateway, infra, children=[users, templates, *workers.values()])
    return gateway


def service_app(name: str, settings: Settings) -> FastAPI:
    """One service per process (``herald serve`` / ``herald worker``)."""
    tracing.configure(name, endpoint=settings.otel_exporter_otlp_endpoint)
    infra = Infra(settings)
    if name == "users":
        app = users_app(infra)
    elif name == "templates":
        app = templates_app(infra)
    elif name == "gateway":
        app = gateway_app(
            infra, http_client(settings.users_url), http_client(settings.templates_url)
        )
    elif name == "email_worker":
        app = email_worker_app(infra, http_client(settings.templates_url))
    elif name == "webhook_worker":
        app = webhook_worker_app(infra)
    elif name == "sms_worker":
        app = sms_worker_app(infra, http_client(settings.templates_url))
    elif name == "in_app_worker":
        app = in_app_worker_app(infra, http_client(settings.templates_url))
    elif name == "chat_worker":
        app = chat_worker_app(
            infra, http_client(settings.templates_url), http_client(settings.users_url)
        )
    elif name == "push_worker":
        app = push_worker_app(
            infra, http_client(settings.templates_url), http_client(settings.users_url)
        )
    else:
        raise ValueError(f"unknown service {name}")
    return own(app, infra)
