"""One error type for everything Herald refuses, carrying the status code and the
envelope's ``error``; a subclass per status a caller may want to catch alone."""

from __future__ import annotations


class HeraldError(Exception):
    """Herald answered with an error (or could not be reached: ``status_code`` 0)."""

    def __init__(self, status_code: int, error: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{status_code}: {error}" if status_code else error)
        self.status_code = status_code
        self.error = error
        self.retry_after = retry_after


class Unreachable(HeraldError):
    """No answer: the connection failed or timed out, after the retries allowed."""

    def __init__(self, error: str) -> None:
        super().__init__(0, error)


class Unauthorized(HeraldError): ...


class Forbidden(HeraldError): ...


class NotFound(HeraldError): ...


class Conflict(HeraldError): ...


class Invalid(HeraldError): ...


class RateLimited(HeraldError): ...


class Unavailable(HeraldError): ...


_BY_STATUS: dict[int, type[HeraldError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Invalid,
    429: RateLimited,
    503: Unavailable,
}


def error_for(status_code: int, error: str, retry_after: float | None = None) -> HeraldError:
    kind = _BY_STATUS.get(status_code, HeraldError)
    return kind(status_code, error, retry_after=retry_after)
