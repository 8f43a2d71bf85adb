"""purge_runs: what `hotline-api purge` did, per data class (the retention policy carried out)

Revision ID: 0011_purge_runs
Revises: 0010_route_open_cases
Create Date: 2026-11-28 16:19:47.301872
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_purge_runs"
down_revision: str | Sequence[str] | None = "0010_route_open_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "purge_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("data_class", sa.String(length=32), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_runs")),
    )


def downgrade() -> None:
    op.drop_table("purge_runs")
