"""report_rollups: per-day rollups of the calls behind the reports, and the triggers that mark a day
to recompute when an old call or any contact record changes

The refresher (reports/rollup.py) recomputes the recent days (the two before today, today and
tomorrow, local time) every time, and the days marked here: a row-level trigger on calls fires only
for calls that started outside that window (a late correction, or a PBX clock far ahead); WHEN is
checked in C, so the intake's hot path pays nothing for recent calls.

Revision ID: 0012_report_rollups
Revises: 0011_purge_runs
Create Date: 2026-11-28 16:40:16.431212
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_report_rollups"
down_revision: str | Sequence[str] | None = "0011_purge_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


MARK = """
CREATE FUNCTION hl_report_mark_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.started_at IS NOT NULL THEN
        INSERT INTO report_dirty_days (day) VALUES ((NEW.started_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date)
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.started_at IS DISTINCT FROM NEW.started_at AND OLD.started_at IS NOT NULL THEN
        INSERT INTO report_dirty_days (day) VALUES ((OLD.started_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER calls_report_days AFTER INSERT OR UPDATE ON calls FOR EACH ROW
    WHEN (NEW.started_at < now() - interval '2 days' OR NEW.started_at >= now() + interval '1 day') EXECUTE FUNCTION hl_report_mark_call();

CREATE FUNCTION hl_report_mark_contact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_dirty_days (day)
    SELECT (c.started_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date FROM calls c
    WHERE c.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.call_id ELSE NEW.call_id END AND c.started_at IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER contact_records_report_days AFTER INSERT OR UPDATE OR DELETE ON contact_records
    FOR EACH ROW EXECUTE FUNCTION hl_report_mark_contact();
"""


def upgrade() -> None:
    op.create_table(
        "report_call_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("switchboard_code", sa.String(length=32), nullable=False),
        sa.Column("dialled_number", sa.String(length=32), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("not_queued", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("in_progress", sa.Integer(), nullable=False),
        sa.Column("answered_in_time", sa.Integer(), nullable=False),
        sa.Column("abandoned_in_time", sa.Integer(), nullable=False),
        sa.Column("wait_sum", sa.Float(), nullable=False),
        sa.Column("talk_sum", sa.Float(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("related", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "switchboard_code", "dialled_number", name=op.f("pk_report_call_days")
        ),
    )
    op.create_table(
        "report_dirty_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_report_dirty_days")),
    )
    op.create_table(
        "report_rollup_state",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("days_refreshed", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_report_rollup_state")),
    )
    op.execute(MARK)
    op.execute("INSERT INTO report_rollup_state (name, days_refreshed) VALUES ('calls', 0)")


def downgrade() -> None:
    op.execute("DROP TRIGGER contact_records_report_days ON contact_records")
    op.execute("DROP TRIGGER calls_report_days ON calls")
    op.execute("DROP FUNCTION hl_report_mark_contact()")
    op.execute("DROP FUNCTION hl_report_mark_call()")
    op.drop_table("report_rollup_state")
    op.drop_table("report_dirty_days")
    op.drop_table("report_call_days")
