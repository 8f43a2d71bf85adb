from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Identity,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from hotline_api.db.base import Base


class KeyCheck(Base):
    """One row per key that has ever sealed data here: proof, at start, that the keys still open it.

    ``check_value`` is a known text sealed with that key (kind ``encryption``), or the keyed hash of
    a known text (kind ``hash``). Neither reveals the key.
    """

    __tablename__ = "key_checks"
    __table_args__ = (CheckConstraint("kind IN ('encryption', 'hash')", name="kind"),)

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    check_value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PurgeRun(Base):
    """What ``hotline-api purge`` did (or, in a dry run, would have done): one row per data class."""

    __tablename__ = "purge_runs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    data_class: Mapped[str] = mapped_column(String(32))
    cutoff: Mapped[datetime]
    rows: Mapped[int] = mapped_column(Integer)
    dry_run: Mapped[bool] = mapped_column(Boolean)
