"""a chat template's text and blocks

Revision ID: temp0002
Revises: temp0001
Create Date: 2026-12-02 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "temp0002"
down_revision: str | None = "temp0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("template_versions", sa.Column("text", sa.Text(), nullable=True))
    op.add_column("template_versions", sa.Column("blocks", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("template_versions", "blocks")
    op.drop_column("template_versions", "text")
