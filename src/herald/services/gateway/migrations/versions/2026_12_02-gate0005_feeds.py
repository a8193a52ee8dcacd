"""in-app feeds, and the in-app worker's ledger

Revision ID: gate0005
Revises: gate0004
Create Date: 2026-12-02 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gate0005"
down_revision: str | None = "gate0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _stamp(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "feed_items",
        sa.Column("seq", _SERIAL, autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("template_code", sa.String(length=100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("avatar", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        _stamp("created_at"),
        _stamp("read_at", nullable=True),
        _stamp("archived_at", nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_feed_items")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_feed_items_notification_id")),
    )
    op.create_index("ix_feed_items_user_seq", "feed_items", ["user_id", "seq"])
    op.create_index("ix_feed_items_user_status", "feed_items", ["user_id", "status"])
    op.create_table(
        "in_app_deliveries",
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        _stamp("delivered_at"),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_in_app_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("in_app_deliveries")
    op.drop_index("ix_feed_items_user_status", table_name="feed_items")
    op.drop_index("ix_feed_items_user_seq", table_name="feed_items")
    op.drop_table("feed_items")
