"""Rollups behind the reports: per local day, switchboard and dialled number, the additive figures
of the calls (and their contact records), kept at most a refresh interval behind the records."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from hotline_api.db.base import Base


class CallDay(Base):
    __tablename__ = "report_call_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    switchboard_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    dialled_number: Mapped[str] = mapped_column(String(32), primary_key=True)  # '' when unknown
    calls: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    not_queued: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    in_progress: Mapped[int] = mapped_column(Integer)
    answered_in_time: Mapped[int] = mapped_column(Integer)
    abandoned_in_time: Mapped[int] = mapped_column(Integer)
    wait_sum: Mapped[float] = mapped_column(Float)
    talk_sum: Mapped[float] = mapped_column(Float)
    records: Mapped[int] = mapped_column(Integer)
    related: Mapped[int] = mapped_column(Integer)


class DirtyDay(Base):
    """A local day whose rollup must be recomputed: marked by triggers when a call older than the
    recent window, or any contact record, changes."""

    __tablename__ = "report_dirty_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


class RollupState(Base):
    __tablename__ = "report_rollup_state"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    refreshed_at: Mapped[datetime | None]
    days_refreshed: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
