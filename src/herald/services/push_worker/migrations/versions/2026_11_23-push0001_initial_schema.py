"""initial schema

Revision ID: push0001
Revises:
Create Date: 2026-11-23 21:20:39.843642
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "push0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "push_deliveries",
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_push_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("push_deliveries")
