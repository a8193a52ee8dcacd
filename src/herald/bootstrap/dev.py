"""``herald dev``: every service in one process on embedded adapters, with mail and
push captured and shown at ``/dev/inbox``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from herald import bootstrap
from herald.adapters.capture import CaptureStore
from herald.adapters.email.capture import CaptureSmtpServer
from herald.config import Settings
from herald.devmode import inbox
from herald.devmode.secrets import with_dev_secrets


@dataclass
class DevStack:
    app: FastAPI
    settings: Settings
    api_key: str
    smtp_capture: CaptureSmtpServer | None


def build(settings: Settings) -> DevStack:
    settings = with_dev_secrets(settings)
    capture = CaptureStore(settings.home / "capture.db")
    smtp_capture: CaptureSmtpServer | None = None
    smtp_url = settings.smtp_url
    if smtp_url is None:
        smtp_capture = CaptureSmtpServer(capture, port=settings.dev_smtp_port)
        smtp_url = smtp_capture.url
    transport = bootstrap.make_email_transport(settings, smtp_url)
    app = bootstrap.all_in_one(settings, email=transport, capture=capture)
    app.include_router(inbox.router(capture))
    app.state.inbox = True  # the API's index links to it

    async def start() -> None:
        await bootstrap.migrate(settings)
        if smtp_capture is not None:
            smtp_capture.start()

    bootstrap.before_start(app, start)
    bootstrap.after_stop(app, lambda: _stop(smtp_capture, capture))
    key = settings.bootstrap_api_key.get_secret_value() if settings.bootstrap_api_key else ""
    return DevStack(app, settings, key, smtp_capture)


async def _stop(smtp_capture: CaptureSmtpServer | None, capture: CaptureStore) -> None:
    if smtp_capture is not None:
        smtp_capture.stop()
    capture.close()
