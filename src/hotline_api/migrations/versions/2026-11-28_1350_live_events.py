"""live_events: queue and presence changes for the live stream, announced with NOTIFY

Revision ID: 0007_live_events
Revises: 0006_routing
Create Date: 2026-11-28 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_live_events"
down_revision: str | Sequence[str] | None = "0006_routing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("switchboard_code", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_events")),
    )
    op.create_index("ix_live_events_at", "live_events", ["at"], unique=False)
    # The payload is built from the row; NOTIFY carries only the new id (listeners read the row).
    op.execute(
        """
        CREATE FUNCTION hl_live_presence() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE new_id bigint;
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.state IS NOT DISTINCT FROM OLD.state
               AND NEW.call_id IS NOT DISTINCT FROM OLD.call_id
               AND NEW.switchboard_code IS NOT DISTINCT FROM OLD.switchboard_code THEN
                RETURN NEW;
            END IF;
            INSERT INTO live_events (switchboard_code, user_id, kind, payload)
            VALUES (NEW.switchboard_code, NEW.user_id, 'presence', jsonb_build_object(
                'user_id', NEW.user_id, 'switchboard', NEW.switchboard_code, 'state', NEW.state,
                'call_id', NEW.call_id, 'since', NEW.since, 'reserved_until', NEW.reserved_until,
                'wrap_up_until', NEW.wrap_up_until))
            RETURNING id INTO new_id;
            PERFORM pg_notify('hotline_live', new_id::text);
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION hl_live_queue() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE new_id bigint;
        BEGIN
            IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status
               AND NEW.priority IS NOT DISTINCT FROM OLD.priority
               AND NEW.offered_user_id IS NOT DISTINCT FROM OLD.offered_user_id THEN
                RETURN NEW;
            END IF;
            INSERT INTO live_events (switchboard_code, user_id, kind, payload)
            VALUES (NEW.switchboard_code, NEW.offered_user_id, 'queue', jsonb_build_object(
                'call_id', NEW.call_id, 'switchboard', NEW.switchboard_code, 'status', NEW.status,
                'priority', NEW.priority, 'emergency', NEW.emergency, 'region', NEW.region,
                'language', NEW.language, 'wait_started_at', NEW.wait_started_at,
                'offered_user_id', NEW.offered_user_id))
            RETURNING id INTO new_id;
            PERFORM pg_notify('hotline_live', new_id::text);
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER counsellor_presence_live AFTER INSERT OR UPDATE ON counsellor_presence "
        "FOR EACH ROW EXECUTE FUNCTION hl_live_presence()"
    )
    op.execute(
        "CREATE TRIGGER waiting_calls_live AFTER INSERT OR UPDATE ON waiting_calls "
        "FOR EACH ROW EXECUTE FUNCTION hl_live_queue()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS waiting_calls_live ON waiting_calls")
    op.execute("DROP TRIGGER IF EXISTS counsellor_presence_live ON counsellor_presence")
    op.execute("DROP FUNCTION IF EXISTS hl_live_queue()")
    op.execute("DROP FUNCTION IF EXISTS hl_live_presence()")
    op.drop_index("ix_live_events_at", table_name="live_events")
    op.drop_table("live_events")
