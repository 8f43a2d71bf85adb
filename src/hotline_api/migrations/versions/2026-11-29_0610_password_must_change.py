"""password_must_change: a password someone else chose (an admin, the first start) is changed by
its owner at the first sign-in before anything else

Existing accounts keep working as they are (false).

Revision ID: 0013_password_must_change
Revises: 0012_report_rollups
Create Date: 2026-11-29 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_password_must_change"
down_revision: str | Sequence[str] | None = "0012_report_rollups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("password_must_change", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("users", "password_must_change")
