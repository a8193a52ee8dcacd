"""notifications addressed directly or to a topic; topics and their subscribers

Revision ID: gate0002
Revises: gate0001
Create Date: 2026-12-01 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gate0002"
down_revision: str | None = "gate0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FANNING_OUT = "topic IS NOT NULL AND status = 'pending'"


def upgrade() -> None:
    # SQLite alters a column by copying its table: batch mode does that for it.
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("user_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column("parent_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("topic", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("fanout", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("fanout_cursor", sa.Uuid(), nullable=True))
    op.create_index("ix_notifications_parent_created", "notifications", ["parent_id", "created_at"])
    op.create_index(
        "ix_notifications_fanning_out",
        "notifications",
        ["created_at"],
        postgresql_where=sa.text(_FANNING_OUT),
        sqlite_where=sa.text(_FANNING_OUT),
    )
    op.create_table(
        "topics",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_topics")),
    )
    op.create_table(
        "topic_subscribers",
        sa.Column("topic_key", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_key"],
            ["topics.key"],
            name=op.f("fk_topic_subscribers_topic_key_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("topic_key", "user_id", name=op.f("pk_topic_subscribers")),
    )


def downgrade() -> None:
    op.drop_table("topic_subscribers")
    op.drop_table("topics")
    op.drop_index("ix_notifications_fanning_out", table_name="notifications")
    op.drop_index("ix_notifications_parent_created", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("fanout_cursor")
        batch.drop_column("fanout")
        batch.drop_column("topic")
        batch.drop_column("parent_id")
        batch.alter_column("user_id", existing_type=sa.Uuid(), nullable=False)
