"""Notification statuses and the one rule about moving between them."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    SCHEDULED = "scheduled"
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"
    SMS = "sms"
    CHAT = "chat"
    IN_APP = "in_app"


FINAL = frozenset({Status.DELIVERED, Status.FAILED, Status.SKIPPED, Status.CANCELLED})

# Statuses no delivery event moves: nothing was sent (skipped, cancelled), or nothing
# has been yet (scheduled: only its due time makes it pending).
_UNSENT = frozenset({Status.SKIPPED, Status.CANCELLED, Status.SCHEDULED})


def can_move(current: Status, new: Status) -> bool:
    """A final status never goes back to pending (SPEC.md §3).

    ``failed`` may still become ``delivered`` (a late provider report of success wins),
    and ``delivered`` may become ``failed`` (a hard bounce arrives after the relay
    accepted the mail); nothing final ever returns to ``pending``, and a notification
    not sent (yet) is moved by no report of a delivery.
    """
    if current == new or current in _UNSENT:
        return False
    if new is Status.PENDING:
        return current is Status.PENDING
    return True


def records(current: Status, new: Status) -> bool:
    """Whether an event saying ``new`` is recorded on a notification that is ``current``:
    a move ``can_move`` allows, or a retry (``pending`` again on a pending notification,
    kept in the history with its error while the status stays)."""
    return (current is Status.PENDING and new is Status.PENDING) or can_move(current, new)
