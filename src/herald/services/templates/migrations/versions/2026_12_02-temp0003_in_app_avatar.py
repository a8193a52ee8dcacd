"""an in-app template's avatar

Revision ID: temp0003
Revises: temp0002
Create Date: 2026-12-02 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "temp0003"
down_revision: str | None = "temp0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("template_versions", sa.Column("avatar", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("template_versions", "avatar")
