"""The response envelope of SPEC.md §3, used by every endpoint of every service."""

from __future__ import annotations

import math
import re
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

T = TypeVar("T")


class PaginationMeta(BaseModel):
    total: int
    limit: int
    page: int
    total_pages: int
    has_next: bool
    has_previous: bool

    @classmethod
    def of(cls, *, total: int, page: int, limit: int) -> PaginationMeta:
        pages = math.ceil(total / limit) if limit else 0
        return cls(
            total=total,
            limit=limit,
            page=page,
            total_pages=pages,
            has_next=page < pages,
            has_previous=page > 1,
        )


class Envelope(BaseModel, Generic[T]):
    success: bool = True
    data: T | None = None
    error: str | None = None
    message: str = "ok"
    meta: PaginationMeta | None = None


_NUL = "text may not contain the NUL character (\\u0000)"
_SURROGATE = "text may not contain a lone UTF-16 surrogate (\\ud800-\\udfff)"
_NOT_FINITE = "numbers must be finite: NaN and Infinity are not JSON"
# JSON's \ud83d escapes parse into a str that no UTF-8 encoder, PostgreSQL or SQLite
# driver, nor JSON response can write back: it would be stored and then never read.
_SURROGATES = re.compile("[\ud800-\udfff]")


def unstorable_text(value: str) -> str | None:
    """Why the text ``value`` cannot be stored and read back, or None."""
    if "\x00" in value:
        return _NUL
    return _SURROGATE if _SURROGATES.search(value) else None


def _unstorable(value: Any) -> str | None:
    """Why ``value`` cannot be stored as given, or None."""
    if isinstance(value, str):
        return unstorable_text(value)
    if isinstance(value, float):
        return None if math.isfinite(value) else _NOT_FINITE
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _unstorable(key) or _unstorable(item)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = _unstorable(item)
            if problem:
                return problem
    return None


# Validation context for parts of a body already checked as a whole.
CHECKED = "storable_checked"


class Input(BaseModel):
    """Base of every request body: unknown fields are refused, and so is what
    PostgreSQL cannot store: a NUL character or a lone surrogate in text, NaN or
    Infinity in JSON (which Python's JSON parser accepts). Refused here, it is the one
    request's 422 instead of a failed group commit for every request sharing it, or a
    row that no page listing it can read back."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get(CHECKED):  # a batch, checked as a whole
            return data
        problem = _unstorable(data)
        if problem:
            raise ValueError(problem)
        return data


class Page(BaseModel):
    """Query parameters of every list endpoint."""

    # Bounded so that page * limit always fits a database offset.
    page: int = Field(default=1, ge=1, le=1_000_000)
    limit: int = Field(default=20, ge=1, le=100)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def ok(data: Any = None, message: str = "ok", meta: PaginationMeta | None = None) -> dict[str, Any]:
    return {
        "success": True,
        "data": data,
        "error": None,
        "message": message,
        "meta": meta.model_dump() if meta else None,
    }


def failure(error: str, message: str | None = None, data: Any = None) -> dict[str, Any]:
    return {
        "success": False,
        "data": data,
        "error": error,
        "message": message or error,
        "meta": None,
    }


class ErrorEnvelope(BaseModel):
    success: bool = False
    data: Any = None
    error: str
    message: str
    meta: None = None


_ERRORS = {
    400: "the request could not be read",
    401: "missing or invalid credentials",
    403: "the credentials do not allow this",
    404: "something named in the request does not exist",
    409: "the request conflicts with what is stored",
    413: "the request body is too large",
    415: "the request body is not JSON",
    422: "the request is not valid; error names the field",
    429: "a rate limit was reached; see Retry-After",
    431: "the request headers are too large",
    503: "a dependency is unavailable; try again after Retry-After",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope, "description": text} for code, text in _ERRORS.items()
}
