from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, LargeBinary, String, func
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
