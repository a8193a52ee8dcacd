"""Composes every service in one process on embedded adapters for ``herald dev``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from pydantic import SecretStr

from herald import bootstrap
from herald.adapters.capture import CaptureStore
from herald.adapters.email.capture import CaptureSmtpServer
from herald.adapters.email.smtp import SmtpTransport
from herald.config import Settings
from herald.devmode import inbox
from herald.devmode.secrets import with_dev_secrets


@dataclass
class DevStack:
    app: FastAPI
    settings: Settings
    api_key: str
    smtp_capture: CaptureSmtpServer | None
    capture: CaptureStore


def build(settings: Settings) -> DevStack:
    settings = with_dev_secrets(settings)
    capture = CaptureStore(settings.home / "capture.db")
    smtp_capture: CaptureSmtpServer | None = None
    smtp_url = settings.smtp_url
    if smtp_url is None:
        smtp_capture = CaptureSmtpServer(capture, port=settings.dev_smtp_port)
        smtp_url = smtp_capture.url
    infra = bootstrap.Infra(settings)
    users = bootstrap.users_app(infra)
    templates = bootstrap.templates_app(infra)
    gateway = bootstrap.gateway_app(
        infra, bootstrap.asgi_client(users, "users"), bootstrap.asgi_client(templates, "templates")
    )
    email = bootstrap.email_worker_app(
        infra,
        bootstrap.asgi_client(templates, "templates"),
        SmtpTransport(smtp_url, pool_size=settings.smtp_pool_size, timeout=settings.smtp_timeout),
    )
    push = bootstrap.push_worker_app(
        infra,
        bootstrap.asgi_client(templates, "templates"),
        bootstrap.asgi_client(users, "users"),
        capture,
    )
    gateway.include_router(inbox.router(capture))

    async def start_capture() -> None:
        await bootstrap.migrate(settings)
        if smtp_capture is not None:
            smtp_capture.start()

    async def stop_capture() -> None:
        if smtp_capture is not None:
            smtp_capture.stop()
        capture.close()

    infra.on_close(stop_capture)
    bootstrap.own(gateway, infra, children=[users, templates, email, push])
    bootstrap.before_start(gateway, start_capture)
    key = settings.bootstrap_api_key or SecretStr("")
    return DevStack(gateway, settings, key.get_secret_value(), smtp_capture, capture)
