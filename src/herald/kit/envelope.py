"""The response envelope of SPEC.md §3, used by every endpoint of every service."""

from __future__ import annotations

import math
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

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


class Page(BaseModel):
    """Query parameters of every list endpoint."""

    page: int = Field(default=1, ge=1)
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
