"""The composition root: the one place that picks concrete adapters from configuration
and wires the services together, for one service per process or all of them in one.

``adapters`` chooses adapters from URLs, ``infra`` holds one process's connections,
``services`` builds each service, ``lifecycle`` ties them to an app's lifespan, and
``admin`` gives the command line what it manages directly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from herald.bootstrap.adapters import (
    make_broker,
    make_cache,
    make_email_transport,
    make_gateway_store,
    make_ledger_store,
    make_rate_limiter,
    open_broker,
    push_transports,
)
from herald.bootstrap.admin import key_admin, service_session
from herald.bootstrap.infra import SERVICES, Infra, asgi_client, http_client, migrate
from herald.bootstrap.lifecycle import after_stop, before_start, own, settle_heap
from herald.bootstrap.services import (
    all_in_one,
    email_worker_app,
    gateway_app,
    push_worker_app,
    service_app,
    templates_app,
    users_app,
)
from herald.config import Settings

if TYPE_CHECKING:
    from herald.bootstrap.dev import DevStack


def dev_stack(settings: Settings) -> DevStack:
    """``herald dev``'s app (bootstrap/dev.py), imported only by the process that runs
    it: its capture server's code is no other process's business."""
    from herald.bootstrap.dev import dev_stack as build

    return build(settings)


__all__ = [
    "SERVICES",
    "Infra",
    "after_stop",
    "all_in_one",
    "asgi_client",
    "before_start",
    "dev_stack",
    "email_worker_app",
    "gateway_app",
    "http_client",
    "key_admin",
    "make_broker",
    "make_cache",
    "make_email_transport",
    "make_gateway_store",
    "make_ledger_store",
    "make_rate_limiter",
    "migrate",
    "open_broker",
    "own",
    "push_transports",
    "push_worker_app",
    "service_app",
    "service_session",
    "settle_heap",
    "templates_app",
    "users_app",
]
