from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.domain.clock import utcnow
from herald.kit.db import HeraldBase, service_metadata


class Base(HeraldBase):
    __abstract__ = True
    metadata = service_metadata()


class Template(Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("code", "channel", name="uq_templates_code_channel"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    default_locale: Mapped[str] = mapped_column(String(35))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TemplateVersion(Base):
    """Immutable: a change is a new row with the next version number for its locale."""

    __tablename__ = "template_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "locale", "version", name="uq_template_versions_number"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), index=True
    )
    locale: Mapped[str] = mapped_column(String(35))
    version: Mapped[int]
    subject: Mapped[str | None] = mapped_column(Text, default=None)
    text_body: Mapped[str | None] = mapped_column(Text, default=None)
    html_body: Mapped[str | None] = mapped_column(Text, default=None)
    title: Mapped[str | None] = mapped_column(Text, default=None)
    body: Mapped[str | None] = mapped_column(Text, default=None)
    image: Mapped[str | None] = mapped_column(Text, default=None)
    link: Mapped[str | None] = mapped_column(Text, default=None)
    # Chat: the message, and Slack's Block Kit blocks (a template of a JSON array).
    text: Mapped[str | None] = mapped_column(Text, default=None)
    blocks: Mapped[str | None] = mapped_column(Text, default=None)
    # In-app: an image URL shown beside a feed item.
    avatar: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
