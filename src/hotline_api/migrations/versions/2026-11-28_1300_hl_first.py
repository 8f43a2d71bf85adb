"""hl_first(): the earliest-wins test of the call-record merge, as an inlined SQL function

Revision ID: 0003_hl_first
Revises: 0002_calls
Create Date: 2026-11-28 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_hl_first"
down_revision: str | Sequence[str] | None = "0002_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # IMMUTABLE and a single SELECT: the planner inlines it, so it costs nothing at run time
    op.execute(
        """
        CREATE FUNCTION hl_first(new_at timestamptz, new_tb anyelement, old_at timestamptz, old_tb anyelement)
        RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
        $$ SELECT new_at IS NOT NULL AND (old_at IS NULL OR (new_at, new_tb) < (old_at, old_tb)) $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS hl_first(timestamptz, anyelement, timestamptz, anyelement)")
