"""Cache keys shared between the service that owns the data and the ones that cache it."""

from __future__ import annotations


def user_contact(user_id: str) -> str:
    return f"users:contact:{user_id}"


def template_head(code: str, channel: str) -> str:
    return f"templates:head:{channel}:{code}"


def template_version(code: str, channel: str, locale: str, version: int) -> str:
    return f"templates:version:{channel}:{code}:{locale}:{version}"


def suppression(suppression_id: str) -> str:
    return f"users:suppressed:{suppression_id}"
