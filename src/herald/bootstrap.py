"""The composition root: the one place that picks concrete adapters from configuration
and wires the services together, for one service per process or all of them in one."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from herald.adapters.db.engine import create_engine
from herald.config import PushMode, Settings
from herald.domain.ratelimits import Rule
from herald.kit import auth, tracing
from herald.kit.clients import ServiceClient
from herald.ports import Broker, Cache, EmailTransport, PushTransport, RateLimiter

if TYPE_CHECKING:
    from herald.adapters.capture import CaptureStore
    from herald.services.email_worker.sender import EmailSender
    from herald.services.push_worker.sender import PushSender

# Each service's modules and adapters are imported in the function that builds it, not
# here: a process then holds only the code it runs (each service in its own process is
# about 10 MB smaller), and ``herald dev`` still imports them all.

SERVICES = ("gateway", "users", "templates", "email_worker", "push_worker")
_SERVICES_DIR = Path(__file__).parent / "services"


def make_broker(settings: Settings) -> Broker:
    url = settings.broker_url
    if url.startswith("memory://"):
        from herald.adapters.broker.embedded import EmbeddedBroker

        return EmbeddedBroker(settings.home / "queue.db")
    if url.startswith(("amqp://", "amqps://")):
        from herald.adapters.broker.rabbitmq import RabbitBroker

        return RabbitBroker(url)
    raise ValueError("HERALD_BROKER_URL must be memory:// or amqp://…")


def make_cache(settings: Settings) -> Cache:
    url = settings.redis_url
    if url.startswith("memory://"):
        from herald.adapters.cache.memory import MemoryCache

        return MemoryCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        from herald.adapters.cache.redis import RedisCache

        return RedisCache(url, prefix=f"{settings.key_prefix}:")
    raise ValueError("HERALD_REDIS_URL must be memory:// or redis://…")


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


async def migrate(settings: Settings, services: Sequence[str] = SERVICES) -> None:
    # Imported here: Alembic adds tens of MB to every process, and only `herald migrate`
    # and `herald dev` run migrations.
    from herald.kit import migrations

    for service in services:
        await asyncio.to_thread(
            migrations.upgrade,
            _SERVICES_DIR / service / "migrations",
            settings.database_url_for(service),
            service,
        )


def http_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(5.0),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
    )


def asgi_client(app: FastAPI, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://{name}",
        timeout=httpx.Timeout(30.0),
    )


class Infra:
    """The connections one process holds, opened in its lifespan, never at import."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = (
            auth.Keys.parse(settings.signing_keys.get_secret_value())
            if settings.signing_keys is not None
            else auth.Keys(settings.jwt_secret.get_secret_value())
        )
        self._broker: Broker | None = None
        self.cache = make_cache(settings)
        self._engines: dict[str, AsyncEngine] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._closers: list[Callable[[], Awaitable[None]]] = []

    @property
    def broker(self) -> Broker:
        """Made when a service first asks for it: the users and templates services
        never publish, so their processes hold no broker connection (nor its code)."""
        if self._broker is None:
            self._broker = make_broker(self.settings)
        return self._broker

    def engine(self, service: str) -> AsyncEngine:
        url = self.settings.database_url_for(service)
        if url not in self._engines:
            self._engines[url] = create_engine(url)
        return self._engines[url]

    def client(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        self._clients.append(client)
        return client

    def service(self, http: httpx.AsyncClient, name: str, issuer: str) -> ServiceClient:
        return ServiceClient(self.client(http), name=name, keys=self.keys, issuer=issuer)

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(closer)

    def database_check(self, service: str) -> Callable[[], Awaitable[bool]]:
        engine = self.engine(service)

        async def check() -> bool:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True

        return check

    async def start(self) -> None:
        if self._broker is not None:
            await self._broker.start()

    async def close(self) -> None:
        # The broker first: no message may arrive once the clients it needs are closed.
        if self._broker is not None:
            await self._broker.close()
        for closer in reversed(self._closers):
            await closer()
        for client in self._clients:
            await client.aclose()
        await self.cache.close()
        for engine in self._engines.values():
            await engine.dispose()


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
    return users.build(
        engine=infra.engine("users"),
        database=infra.database_check("users"),
        ctx=ctx,
        max_body_bytes=s.max_body_bytes,
    )


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


def vapid_public_key(settings: Settings) -> str | None:
    if settings.vapid_private_key is None:
        return None
    import base64

    from cryptography.hazmat.primitives import serialization

    from herald.adapters.push.webpush import load_vapid

    vapid = load_vapid(settings.vapid_private_key.get_secret_value())
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def gateway_app(
    infra: Infra, users_http: httpx.AsyncClient, templates_http: httpx.AsyncClient
) -> FastAPI:
    from herald.kit.db import sessionmaker
    from herald.services.gateway import app as gateway
    from herald.services.gateway.clients import Directory
    from herald.services.gateway.context import GatewayContext
    from herald.services.gateway.intake import Intake
    from herald.services.gateway.keys import KeyVerifier
    from herald.services.gateway.relay import OutboxRelay
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
    relay = OutboxRelay(infra.engine("gateway"), infra.broker)
    ctx = GatewayContext(
        sessions=sessions,
        broker=infra.broker,
        directory=directory,
        limiter=limiter,
        keys=KeyVerifier(sessions),
        relay=relay,
        intake=Intake(infra.engine("gateway"), relay),
        statuses=StatusApplier(infra.engine("gateway"), infra.broker),
        signing=infra.keys,
        rate_limit_per_key=Rule.parse(s.rate_limit_per_key),
        rate_limit_per_recipient=Rule.parse(s.rate_limit_per_recipient),
        public_url=s.public_url,
        vapid_public_key=vapid_public_key(s),
    )
    app = gateway.build(
        database=infra.database_check("gateway"),
        ctx=ctx,
        max_body_bytes=s.max_body_bytes,
        max_in_flight=s.max_in_flight,
    )
    if s.bootstrap_api_key is not None:
        key = s.bootstrap_api_key.get_secret_value()

        from herald.kit.db import unit_of_work
        from herald.services.gateway import keys

        async def ensure_key() -> None:
            async with unit_of_work(sessions) as session:
                await keys.ensure(session, key)

        before_start(app, ensure_key)
    return app


def _worker(
    infra: Infra,
    service: str,
    sender: EmailSender | PushSender,
    templates_http: httpx.AsyncClient,
    ledger_model: type,
) -> FastAPI:
    from herald.domain.breaker import BreakerBoard
    from herald.domain.retry import RetryPolicy
    from herald.kit.ledger import Ledger
    from herald.kit.templates_source import TemplateSource
    from herald.kit.worker import DeliveryWorker, worker_app

    s = infra.settings
    worker = DeliveryWorker(
        sender=sender,
        broker=infra.broker,
        templates=TemplateSource(infra.service(templates_http, "templates", service), infra.cache),
        ledger=Ledger(infra.engine(service), ledger_model),
        policy=RetryPolicy(s.retry_max_attempts, s.retry_base_delay, s.retry_max_delay),
        breakers=BreakerBoard(s.breaker_failure_threshold, s.breaker_reset_seconds),
        prefetch=s.worker_prefetch,
    )
    infra.on_close(worker.stop)
    return worker_app(service=service, worker=worker, database=infra.database_check(service))


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


def before_start(app: FastAPI, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` when ``app`` starts, before its own lifespan."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        await action()
        async with inner(a):
            yield

    app.router.lifespan_context = lifespan


def after_stop(app: FastAPI, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` when ``app`` has stopped, after its own lifespan."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        try:
            async with inner(a):
                yield
        finally:
            await action()

    app.router.lifespan_context = lifespan


def own(app: FastAPI, infra: Infra, *, children: Sequence[FastAPI] = ()) -> FastAPI:
    """Make ``app``'s lifespan open ``infra`` and start ``children`` (in-process services)
    before its own start-up, and close them all, in reverse, after its shutdown."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await infra.start()
            stack.push_async_callback(infra.close)
            for child in children:
                await stack.enter_async_context(child.router.lifespan_context(child))
            await stack.enter_async_context(inner(a))
            settle_heap()
            yield

    app.router.lifespan_context = lifespan
    return app


def settle_heap() -> None:
    """Set what start-up built aside from the garbage collector for good.

    Every full collection walks every tracked object, and start-up leaves well over a
    hundred thousand (modules, models, routes) that live as long as the process: on a
    busy two-core machine each walk stalled the event loop for 60-130 ms every few
    seconds, which was the gateway's p99. Frozen, they are never walked again.
    """
    gc.collect()
    gc.freeze()


def all_in_one(
    settings: Settings, *, email: EmailTransport | None = None, capture: CaptureStore | None = None
) -> FastAPI:
    """Every service in one process, reaching each other in-process: what ``herald dev``
    runs (on embedded adapters) and what integration tests run (on the real servers)."""
    tracing.configure("dev", endpoint=settings.otel_exporter_otlp_endpoint)
    infra = Infra(settings)
    users = users_app(infra)
    templates = templates_app(infra)
    gateway = gateway_app(infra, asgi_client(users, "users"), asgi_client(templates, "templates"))
    email_worker = email_worker_app(infra, asgi_client(templates, "templates"), email)
    push_worker = push_worker_app(
        infra, asgi_client(templates, "templates"), asgi_client(users, "users"), capture
    )
    # One port in this mode: the workers' /ready and /metrics live under /workers/….
    gateway.mount("/workers/email", email_worker)
    gateway.mount("/workers/push", push_worker)
    own(gateway, infra, children=[users, templates, email_worker, push_worker])
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
    elif name == "push_worker":
        app = push_worker_app(
            infra, http_client(settings.templates_url), http_client(settings.users_url)
        )
    else:
        raise ValueError(f"unknown service {name}")
    return own(app, infra)
