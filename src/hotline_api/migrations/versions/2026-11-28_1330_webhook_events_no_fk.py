"""webhook_events: no foreign key on switchboard_code (a trigger per inserted event)

Revision ID: 0005_webhook_events_no_fk
Revises: 0004_hot_updates
Create Date: 2026-11-28 13:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_webhook_events_no_fk"
down_revision: str | Sequence[str] | None = "0004_hot_updates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(
        "fk_webhook_events_switchboard_code_switchboards", "webhook_events", type_="foreignkey"
    )


def downgrade() -> None:
    op.create_foreign_key(
        "fk_webhook_events_switchboard_code_switchboards",
        "webhook_events",
        "switchboards",
        ["switchboard_code"],
        ["code"],
    )
