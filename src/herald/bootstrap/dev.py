"""``herald dev``: every service in one process on embedded adapters, with mail and
push captured and shown at ``/dev/inbox``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from herald.adapters.capture import CaptureStore
from herald.adapters.email.capture import CaptureSmtpServer
from herald.bootstrap.adapters import make_email_transport
from herald.bootstrap.infra import migrate
from herald.bootstrap.lifecycle import after_stop, before_start
from herald.bootstrap.services import all_in_one
from herald.config import Settings
from herald.devmode import inbox
from herald.devmode.secrets import with_dev_secrets
from herald.kit.auth import Keys


@dataclass
class DevStack:
    app: FastAPI
    settings: Settings
    api_key: str
    # Where the built-in capture takes mail, or None when HERALD_SMTP_URL is a relay.
    smtp_capture_url: str | None


def dev_stack(settings: Settings) -> DevStack:
    """``herald dev``: its secrets kept under ``home``, mail captured by a local SMTP
    server unless HERALD_SMTP_URL names one, push captured, the inbox to read both.
    Raises OSError, saying why, when the capture's port cannot be had."""
    settings = with_dev_secrets(settings)
    capture = CaptureStore(settings.home / "capture.db")
    smtp_capture: CaptureSmtpServer | None = None
    smtp_url = settings.smtp_url
    if smtp_url is None:
        smtp_capture = CaptureSmtpServer(capture, port=settings.dev_smtp_port)
        smtp_url = smtp_capture.url
    transport = make_email_transport(settings, smtp_url)
    app = all_in_one(settings, email=transport, capture=capture)
    inbox.mount(app, capture, Keys(settings.jwt_secret.get_secret_value()))
    app.state.inbox = True  # the API's index links to it

    async def start() -> None:
        await migrate(settings)
        if smtp_capture is not None:
            smtp_capture.start()

    before_start(app, start)
    after_stop(app, lambda: _stop(smtp_capture, capture))
    key = settings.bootstrap_api_key.get_secret_value() if settings.bootstrap_api_key else ""
    return DevStack(app, settings, key, smtp_capture.url if smtp_capture else None)


async def _stop(smtp_capture: CaptureSmtpServer | None, capture: CaptureStore) -> None:
    if smtp_capture is not None:
        smtp_capture.stop()
    capture.close()
