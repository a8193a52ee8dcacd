"""a user's role: admins sign in to the console

Revision ID: user0005
Revises: user0004
Create Date: 2026-12-02 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "user0005"
down_revision: str | None = "user0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("role", sa.String(16), nullable=False, server_default="user"))


def downgrade() -> None:
    op.drop_column("users", "role")
