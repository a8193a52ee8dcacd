"""a user's phone number, and the text-message and chat preferences

Revision ID: user0006
Revises: user0005
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "user0006"
down_revision: str | None = "user0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("phone", sa.String(16), nullable=True))
    for channel in ("sms", "chat"):
        op.add_column(
            "users",
            sa.Column(f"{channel}_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        )


def downgrade() -> None:
    op.drop_column("users", "chat_enabled")
    op.drop_column("users", "sms_enabled")
    op.drop_column("users", "phone")
