"""scheduled notifications and digests

Revision ID: gate0003
Revises: gate0002
Create Date: 2026-12-01 22:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gate0003"
down_revision: str | None = "gate0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IN_DIGEST = "digest_id IS NOT NULL"
_OPEN = "closed_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("digest_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_notifications_digest",
        "notifications",
        ["digest_id"],
        postgresql_where=sa.text(_IN_DIGEST),
        sqlite_where=sa.text(_IN_DIGEST),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["id"],
            ["notifications.id"],
            name=op.f("fk_schedules_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    op.create_index(op.f("ix_schedules_due_at"), "schedules", ["due_at"])
    op.create_table(
        "digests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
    )
    op.create_index("ix_digests_group", "digests", ["group_key", "closes_at"])
    op.create_index(
        "ix_digests_open",
        "digests",
        ["closes_at"],
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )


def downgrade() -> None:
    op.drop_table("digests")
    op.drop_table("schedules")
    op.drop_index("ix_notifications_digest", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("digest_id")
        batch.drop_column("send_at")
