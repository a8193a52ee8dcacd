from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from herald.domain.clock import utcnow
from herald.kit.db import HeraldBase, service_metadata


class Base(HeraldBase):
    __abstract__ = True
    metadata = service_metadata()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(35), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    email_enabled: Mapped[bool] = mapped_column(default=True)
    push_enabled: Mapped[bool] = mapped_column(default=True)
    sms_enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    chat_enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    in_app_enabled: Mapped[bool] = mapped_column(default=True, server_default=true())
    # E.164, for text messages.
    phone: Mapped[str | None] = mapped_column(String(16), default=None)
    # {"start": "HH:MM", "end": "HH:MM"} in the user's timezone, or None.
    quiet_hours: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    email_bounce: Mapped[str | None] = mapped_column(Text, default=None)
    # In every user token; raised when the password changes, which revokes the tokens
    # signed before.
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # "admin" may sign in to the console; "user" is everyone else.
    role: Mapped[str] = mapped_column(String(16), default="user", server_default="user")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    devices: Mapped[list[Device]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        lazy="raise",
        order_by="Device.created_at",
    )


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("user_id", "address", name="uq_devices_user_address"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    # The FCM token, the Web Push endpoint or the chat's webhook URL: what makes a
    # device unique for a user.
    address: Mapped[str] = mapped_column(String(4096))
    p256dh: Mapped[str | None] = mapped_column(String(200), default=None)
    auth: Mapped[str | None] = mapped_column(String(200), default=None)
    valid: Mapped[bool] = mapped_column(default=True)
    invalid_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="devices", lazy="raise")


class Suppression(Base):
    """An address that ``to`` sends skip (unsubscribed, hard-bounced, or a gone device)."""

    __tablename__ = "suppressions"

    # domain.suppressions.suppression_id(channel, address)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(4096))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
