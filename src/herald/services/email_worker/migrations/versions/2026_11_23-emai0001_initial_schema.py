"""initial schema

Revision ID: emai0001
Revises:
Create Date: 2026-11-23 21:20:39.824717
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "emai0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_deliveries",
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_email_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("email_deliveries")
