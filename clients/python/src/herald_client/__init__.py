"""herald-client: Herald's HTTP API from Python, sync (``Herald``) and async
(``AsyncHerald``)."""

from herald_client import models, webhooks
from herald_client.client import AsyncHerald, Herald
from herald_client.errors import (
    Conflict,
    Forbidden,
    HeraldError,
    Invalid,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    Unreachable,
)
from herald_client.resources import ListPage

__version__ = "0.1.0"
__all__ = [
    "AsyncHerald",
    "Conflict",
    "Forbidden",
    "Herald",
    "HeraldError",
    "Invalid",
    "ListPage",
    "NotFound",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
    "models",
    "webhooks",
]
