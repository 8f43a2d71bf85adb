"""The call record: one row per call, built from facts that arrive in any order.

Every fact column merges commutatively — earliest (LEAST), latest (GREATEST), or "the value seen
at the earliest time" with the value itself as tie-break — so the same set of events gives the
same row whatever their order or duplication. The outcome and the wait and talk times are generated
columns computed from those facts by PostgreSQL, so they can never disagree with them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Computed,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hotline_api.db.base import Base

OUTCOMES = ("answered", "abandoned", "timeout", "not_queued", "failed", "in_progress")

# PRODUCT.md §1, in order: not ended → in_progress; bridged with a counsellor → answered; waited and
# ran out of time → timeout; waited and hung up → abandoned; ended before waiting (hung up in the
# IVR, or Queue() refused the call) → not_queued; never reached the IVR → failed.
OUTCOME_SQL = """CASE
    WHEN COALESCE(ended_at, sweeper_end_at) IS NULL THEN 'in_progress'
    WHEN answered_at IS NOT NULL THEN 'answered'
    WHEN wait_started_at IS NOT NULL AND timed_out_at IS NOT NULL THEN 'timeout'
    WHEN wait_started_at IS NOT NULL THEN 'abandoned'
    WHEN ivr_answered_at IS NOT NULL OR queue_refused_at IS NOT NULL THEN 'not_queued'
    ELSE 'failed'
END"""

WAIT_SQL = "EXTRACT(EPOCH FROM (COALESCE(answered_at, ended_at, sweeper_end_at) - wait_started_at))::double precision"
TALK_SQL = "EXTRACT(EPOCH FROM (COALESCE(ended_at, sweeper_end_at) - answered_at))::double precision"


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("switchboard_code", "linkedid"),
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_caller_hash", "caller_hash"),
        # calls still open, for the sweeper; on started_at, which seldom changes after the first
        # event, so that the update of every event stays a HOT update (no index touched)
        Index("ix_calls_open", "started_at", postgresql_where="ended_at IS NULL AND sweeper_end_at IS NULL"),
        Index("ix_calls_counsellor", "counsellor_user_id", "started_at"),
        # room on each page for the new versions of a row: most event updates stay on the page
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # where the call entered: an overflowed call stays the call of its first switchboard
    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"))
    linkedid: Mapped[str] = mapped_column(Text)

    started_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime | None]
    dialled_number: Mapped[str | None] = mapped_column(String(32))
    dialled_at: Mapped[datetime | None]

    caller_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    caller_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    caller_at: Mapped[datetime | None]
    caller_province: Mapped[str | None] = mapped_column(String(4))
    caller_region: Mapped[str | None] = mapped_column(String(16))

    ivr_answered_at: Mapped[datetime | None]
    wait_started_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    counsellor_extension: Mapped[str | None] = mapped_column(Text)
    counsellor_user_id: Mapped[int | None] = mapped_column(Integer)
    answered_switchboard: Mapped[str | None] = mapped_column(String(32))
    timed_out_at: Mapped[datetime | None]
    queue_refused_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_at: Mapped[datetime | None]
    recording_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    recording_at: Mapped[datetime | None]

    # set by the sweeper when no end ever arrived: the call's end is then its last event
    sweeper_end_at: Mapped[datetime | None]
    swept_at: Mapped[datetime | None]

    outcome: Mapped[str] = mapped_column(String(16), Computed(OUTCOME_SQL, persisted=True))
    wait_seconds: Mapped[float | None] = mapped_column(Float, Computed(WAIT_SQL, persisted=True))
    talk_seconds: Mapped[float | None] = mapped_column(Float, Computed(TALK_SQL, persisted=True))


class CallLeg(Base):
    """A (switchboard, linkedid) that belongs to a call entered elsewhere: the leg of a call
    overflowed to another switchboard (HOTLINE_ORIGIN)."""

    __tablename__ = "call_legs"

    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"), primary_key=True)
    linkedid: Mapped[str] = mapped_column(Text, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)


class CallOffer(Base):
    """A counsellor rung for a call who did not pick up: a missed offer, not an outcome."""

    __tablename__ = "call_offers"
    __table_args__ = (UniqueConstraint("call_id", "switchboard_code", "extension", "offered_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    switchboard_code: Mapped[str] = mapped_column(String(32))
    extension: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(Integer)
    offered_at: Mapped[datetime]
    result: Mapped[str] = mapped_column(String(16))  # noanswer, busy, unavailable
