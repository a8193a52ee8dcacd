"""a user's quiet hours

Revision ID: user0004
Revises: user0003
Create Date: 2026-12-01 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "user0004"
down_revision: str | None = "user0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("quiet_hours", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "quiet_hours")
