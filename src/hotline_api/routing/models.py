"""Routing state: counsellors' presence, the calls waiting, every decision, per-switchboard settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from hotline_api.db.base import Base

PRESENCE_STATES = ("offline", "available", "break", "reserved", "on_call", "wrap_up", "missed")
# what a counsellor may set themselves (a supervisor too); the others follow from the calls
SETTABLE_STATES = ("available", "break", "offline")
WAITING_STATES = ("waiting", "offered", "transferred", "connected", "ended")


class RoutingSettings(Base):
    """Per switchboard, edited by supervisors (audited)."""

    __tablename__ = "routing_settings"

    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"), primary_key=True)
    # local (Asia/Ho_Chi_Minh) opening hours per ISO weekday "1".."7": ["07:00", "21:30"]; a day absent
    # is closed; the national switchboard is always open whatever this says
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    overflow_after_seconds: Mapped[int] = mapped_column(Integer, default=90)
    ring_timeout_seconds: Mapped[int] = mapped_column(Integer, default=20)
    wrap_up_seconds: Mapped[int] = mapped_column(Integer, default=120)
    language_wait_seconds: Mapped[int] = mapped_column(Integer, default=60)
    wait_seconds: Mapped[int] = mapped_column(Integer, default=15)
    max_wait_seconds: Mapped[int] = mapped_column(Integer, default=900)
    # dial string to each other switchboard: {"hanoi": "IAX2/hanoi-trunk/111"}
    transfer_targets: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    local_queue: Mapped[str] = mapped_column(String(64), default="q-local")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(Text)


class Presence(Base):
    __tablename__ = "counsellor_presence"
    __table_args__ = (
        CheckConstraint(f"state IN {PRESENCE_STATES!r}", name="known_state"),
        Index("ix_counsellor_presence_board_state", "switchboard_code", "state"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"))
    state: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(server_default=func.now())
    # when they last became free: the longest idle is offered first
    idle_since: Mapped[datetime | None]
    call_id: Mapped[int | None] = mapped_column(BigInteger)
    reserved_until: Mapped[datetime | None]
    wrap_up_until: Mapped[datetime | None]


class WaitingCall(Base):
    """A call asking for a counsellor at a switchboard, from its first /route request on."""

    __tablename__ = "waiting_calls"
    __table_args__ = (
        UniqueConstraint("switchboard_code", "linkedid"),
        CheckConstraint(f"status IN {WAITING_STATES!r}", name="known_status"),
        Index(
            "ix_waiting_calls_queue",
            "switchboard_code",
            "priority",
            "wait_started_at",
            postgresql_where="status IN ('waiting', 'offered')",
        ),
        Index("ix_waiting_calls_call_id", "call_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    switchboard_code: Mapped[str] = mapped_column(ForeignKey("switchboards.code"))
    linkedid: Mapped[str] = mapped_column(Text)
    call_id: Mapped[int] = mapped_column(BigInteger)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    wait_started_at: Mapped[datetime]
    region: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="vi")
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    previous_user_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    offered_user_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RoutingDecision(Base):
    """Every answer to /route, with what it was based on (never the caller's number)."""

    __tablename__ = "routing_decisions"
    __table_args__ = (
        Index("ix_routing_decisions_call", "switchboard_code", "linkedid"),
        Index("ix_routing_decisions_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    switchboard_code: Mapped[str] = mapped_column(String(32))
    linkedid: Mapped[str | None] = mapped_column(Text)
    call_id: Mapped[int | None] = mapped_column(BigInteger)
    attempt: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(16))
    region_reason: Mapped[str | None] = mapped_column(String(32))
    target_switchboard: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int | None] = mapped_column(Integer)
    counsellor_user_id: Mapped[int | None] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    duration_ms: Mapped[float | None]


class LiveEvent(Base):
    """What the console's live stream carries: queue and presence changes, written by triggers on
    waiting_calls and counsellor_presence, announced with NOTIFY hotline_live. Kept a day, so that a
    client that reconnects with Last-Event-ID misses nothing. Ids and states only: no personal data."""

    __tablename__ = "live_events"
    __table_args__ = (Index("ix_live_events_at", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    switchboard_code: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
