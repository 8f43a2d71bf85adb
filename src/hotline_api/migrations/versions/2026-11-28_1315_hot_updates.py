"""calls: updates by events stay HOT (no index on last_event_at, room on each page); one index
fewer on webhook_events

Revision ID: 0004_hot_updates
Revises: 0003_hl_first
Create Date: 2026-11-28 13:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_hot_updates"
down_revision: str | Sequence[str] | None = "0003_hl_first"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(
        "ix_calls_open_last_event",
        table_name="calls",
        postgresql_where="ended_at IS NULL AND sweeper_end_at IS NULL",
    )
    op.create_index(
        "ix_calls_open",
        "calls",
        ["started_at"],
        unique=False,
        postgresql_where="ended_at IS NULL AND sweeper_end_at IS NULL",
    )
    op.execute("ALTER TABLE calls SET (fillfactor = 80)")
    op.drop_index("ix_webhook_events_switchboard_received", table_name="webhook_events")


def downgrade() -> None:
    op.create_index(
        "ix_webhook_events_switchboard_received",
        "webhook_events",
        ["switchboard_code", "received_at"],
        unique=False,
    )
    op.execute("ALTER TABLE calls RESET (fillfactor)")
    op.drop_index(
        "ix_calls_open", table_name="calls", postgresql_where="ended_at IS NULL AND sweeper_end_at IS NULL"
    )
    op.create_index(
        "ix_calls_open_last_event",
        "calls",
        ["last_event_at"],
        unique=False,
        postgresql_where="ended_at IS NULL AND sweeper_end_at IS NULL",
    )
