"""The one error type. Expected failures carry the HTTP status a client should see."""

from __future__ import annotations

from typing import Any


class HeraldError(Exception):
    """An expected failure, rendered by one handler into the response envelope."""

    def __init__(
        self,
        status_code: int,
        error: str,
        *,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
    ) -> None:
        super().__init__(error)
        self.status_code = status_code
        self.error = error
        self.message = message or error
        self.headers = headers or {}
        self.data = data

    @classmethod
    def not_found(cls, what: str) -> HeraldError:
        return cls(404, f"{what} not found")

    @classmethod
    def conflict(cls, error: str) -> HeraldError:
        return cls(409, error)

    @classmethod
    def invalid(cls, error: str) -> HeraldError:
        return cls(422, error)

    @classmethod
    def unauthorized(cls, error: str = "missing or invalid credentials") -> HeraldError:
        return cls(401, error, headers={"WWW-Authenticate": "Bearer"})

    @classmethod
    def forbidden(cls, error: str = "not allowed") -> HeraldError:
        return cls(403, error)

    @classmethod
    def unavailable(cls, error: str) -> HeraldError:
        return cls(503, error, headers={"Retry-After": "5"})


class DeliveryError(Exception):
    """A delivery attempt failed. ``permanent`` failures go straight to the dead letter queue."""

    def __init__(self, error: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent
        self.retry_after = retry_after


class DeviceGone(DeliveryError):
    """The push service says this device's token or subscription no longer exists."""

    def __init__(self, error: str) -> None:
        super().__init__(error, permanent=True)
